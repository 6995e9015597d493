"""The style-based generator (training/networks/stylegan.py): shapes, modulation, truncation, style mixing,
noise, training through the GAN task with lazy R1; and its emoji data set."""

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from test_training import read_log, tiny  # noqa: E402
from test_training_data import tiny_fashion  # noqa: E402

from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint  # noqa: E402
from training.config import ConfigError, from_dict  # noqa: E402
from training.data import DataError  # noqa: E402
from training.emoji import EMOJI_TEST, Emoji, emoji_list  # noqa: E402
from training.emoji import FONT as EMOJI_FONT  # noqa: E402
from training.networks.stylegan import Discriminator, Generator, ModulatedConv, minibatch_stddev  # noqa: E402
from training.tasks.gan import GanRun  # noqa: E402


@pytest.fixture(autouse=True)
def no_cached_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr("training.classifier.CACHE_DIR", tmp_path / "no-classifier-cache")


def small(size: int = 16, channels: int = 3, num_classes: int = 0, **options) -> Generator:
    torch.manual_seed(0)
    return Generator(latent_size=16, size=size, channels=channels, width=8, num_classes=num_classes, **options).eval()


@pytest.mark.parametrize(("size", "channels", "num_classes"), [(8, 1, 0), (32, 1, 10), (64, 4, 0)])
def test_shapes_of_styles_noise_and_images(size, channels, num_classes):
    G = small(size, channels, num_classes)
    D = Discriminator(size, channels, 8, num_classes)
    layers = 1 + 2 * (len(G.synthesis.resolutions) - 1)  # one convolution at 4 px, two at each larger size
    assert G.num_ws == layers + 1  # and the last to-image layer's
    assert G.synthesis.noise_shapes()[-1] == (1, size, size) and len(G.synthesis.noise_shapes()) == layers
    z, labels = torch.randn(3, 16), (torch.arange(3) if num_classes else None)
    assert G.styles(z, labels).shape == (3, G.num_ws, 16)
    images = G(z, labels)
    assert images.shape == (3, channels, size, size) and torch.isfinite(images).all()
    assert D(images, labels).shape == (3,)


def test_unsupported_sizes_and_missing_classes_are_clear_errors():
    with pytest.raises(ValueError, match="4·2\\^k"):
        small(28)
    with pytest.raises(ValueError, match="class-conditional"):
        small(8, num_classes=3)(torch.randn(2, 16))


def test_unfused_modulation_equals_per_sample_modulated_weights():
    """StyleGAN2's definition: each sample's weights scaled by its style and demodulated, one grouped convolution."""
    torch.manual_seed(0)
    conv = ModulatedConv(w_size=5, channels_in=4, channels_out=6)
    with torch.no_grad():
        conv.affine.bias.normal_()  # styles far from 1, so a wrong axis shows
    x, w = torch.randn(3, 4, 7, 7), torch.randn(3, 5)
    styles = conv.affine(w)
    weights = conv.weight * conv.weight_gain * styles[:, None, :, None, None]  # (N, out, in, k, k)
    weights = weights * (weights.square().sum((2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    expected = F.conv2d(x.reshape(1, 12, 7, 7), weights.reshape(18, 4, 3, 3), padding=1, groups=3).reshape(3, 6, 7, 7)
    torch.testing.assert_close(conv(x, w), expected, atol=1e-5, rtol=1e-5)


def test_truncation_zero_gives_the_average_image_and_one_changes_nothing():
    G = small()
    with torch.no_grad():
        G.w_avg.normal_()
        z = torch.randn(2, 16)
        average = G.synthesis(G.styles(z, truncation=0.0))
        assert torch.equal(average[0], average[1])
        assert torch.equal(G.synthesis(G.styles(z, truncation=1.0)), G(z))
        assert not torch.equal(G(z)[0], G(z)[1])


def test_noise_changes_only_the_detail_its_strength_allows():
    G = small()
    ws = G.styles(torch.randn(1, 16))
    with torch.no_grad():
        a, b = G.draw_noise(1, torch.Generator().manual_seed(1)), G.draw_noise(1, torch.Generator().manual_seed(2))
        assert torch.equal(G.synthesis(ws, a), G.synthesis(ws, b))  # strengths start at 0
        for layer in G.synthesis.layers:
            layer.noise_strength.fill_(0.1)
        assert not torch.equal(G.synthesis(ws, a), G.synthesis(ws, b))
        assert torch.equal(G.synthesis(ws, a), G.synthesis(ws, a))


def test_training_mode_mixes_two_latents_styles_from_a_random_layer_on():
    G = small(style_mixing=1.0).train()
    z = torch.randn(2, 16)
    plain = G.styles(z)
    mixed = G._mix_at_random(plain, None)
    same = (mixed == plain).all(dim=(0, 2))  # per layer
    cut = int(same.long().argmin())
    assert 1 <= cut < G.num_ws and same[:cut].all() and not same[cut:].any()


def test_minibatch_stddev_is_zero_for_identical_samples_and_grows_with_spread():
    x = torch.randn(1, 2, 4, 4).repeat(4, 1, 1, 1)
    assert minibatch_stddev(x)[:, -1].abs().max() < 1e-3
    assert minibatch_stddev(x + torch.randn(4, 2, 4, 4))[:, -1].min() > 0.3
    assert minibatch_stddev(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4)  # a batch of 6: groups of 3


def test_a_minibatch_stddev_group_as_large_as_the_batch_measures_the_whole_batch():
    x = torch.randn(8, 2, 4, 4)
    whole = (x.var(0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(minibatch_stddev(x, 8)[:, -1], whole.expand(8, 4, 4))
    assert len(minibatch_stddev(x, 4)[:, -1, 0, 0].unique()) == 2  # two groups of four, two statistics


def stylegan_run(tmp_path, steps: int = 6, **train):
    config = tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=steps, **train)
    config.data.size = 32
    config.model.family, config.model.width = "stylegan", 8
    config.train.betas = (0.0, 0.99)
    return config


def test_the_average_w_is_tracked_in_training_and_kept_by_the_ema_copy(tmp_path):
    run = GanRun(stylegan_run(tmp_path))
    for _ in range(3):
        run.train_step()
    assert run.G_raw.w_avg.abs().sum() > 0
    assert torch.equal(run.G_ema.w_avg, run.G_raw.w_avg)


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no native bfloat16 on this CPU")
def test_bfloat16_autocast_trains_with_lazy_r1_and_keeps_the_average_w_in_float32(tmp_path):
    """What mixed precision on CUDA does by default, here on a CPU with native bfloat16 (train.cpu_bfloat16)."""
    run = GanRun(stylegan_run(tmp_path, r1_gamma=1.0, r1_every=2, cpu_bfloat16=True))
    with run.autocast:
        assert run.G_raw.mapping(torch.randn(2, 16), None).dtype == torch.bfloat16  # autocast is on
    losses = torch.stack([run.train_step() for _ in range(4)])
    assert torch.isfinite(losses).all()
    assert run.G_raw.w_avg.dtype == torch.float32 and run.G_raw.w_avg.abs().sum() > 0


def test_a_few_discriminator_steps_lower_its_loss(tmp_path):
    run = GanRun(stylegan_run(tmp_path))
    real = run.data[0][0][None].repeat(8, 1, 1, 1)
    losses = [float(run.d_step(real, None)[0]) for _ in range(30)]
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])  # measured 0.52× (fresh fakes each step: noisy)


def test_lazy_r1_resumes_bit_for_bit_and_penalises_every_kth_step_only(tmp_path):
    config = stylegan_run(tmp_path, steps=6, r1_gamma=1.0, r1_every=3)
    config.output.log_every, config.output.checkpoint_every = 1, 3
    straight = tasks.train(config)
    config.output.run_dir = str(tmp_path / "halves")
    config.train.steps = 3
    tasks.train(config)
    config.train.steps = 6
    halves = tasks.train(config, resume=True)
    a, b = load_checkpoint(straight), load_checkpoint(halves)
    for key in ("G", "G_ema", "D"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    penalties = [float(row["penalty"]) for row in read_log(straight)]
    assert [p > 0 for p in penalties] == [True, False, False, True, False, False]


def test_style_options_are_checked(tmp_path):
    document = stylegan_run(tmp_path).to_dict()
    for field, value, message in (("style_mixing", 1.5, "style_mixing"), ("mapping_layers", 0, "mapping_layers")):
        with pytest.raises(ConfigError, match=message):
            from_dict(document | {"model": document["model"] | {field: value}})


needs_emoji = pytest.mark.skipif(
    not (EMOJI_FONT.is_file() and EMOJI_TEST.is_file()),
    reason="needs Debian's fonts-noto-color-emoji and unicode-data",
)


def test_the_emoji_list_reads_groups_and_sequences(tmp_path):
    listing = tmp_path / "emoji-test.txt"
    listing.write_text(
        "# group: Smileys & Emotion\n"
        "1F600 ; fully-qualified     # 😀 E1.0 grinning face\n"
        "263A ; unqualified         # ☺ E0.6 smiling face\n"
        "# group: Component\n"
        "1F3FB ; fully-qualified     # 🏻 E1.0 light skin tone\n"
        "# group: People & Body\n"
        "1F44D 1F3FD ; fully-qualified     # 👍🏽 E1.0 thumbs up: medium skin tone\n",
        encoding="utf-8",
    )
    assert emoji_list(listing) == [
        ("Smileys & Emotion", "grinning face", "\U0001f600"),
        ("People & Body", "thumbs up: medium skin tone", "\U0001f44d\U0001f3fd"),
    ]
    with pytest.raises(DataError, match="unicode-data"):
        emoji_list(tmp_path / "missing.txt")


@needs_emoji
def test_emoji_render_as_rgba_with_transparent_black_backgrounds_and_a_held_out_tenth():
    train, test = Emoji(32, "train"), Emoji(32, "test")
    assert train.images.shape[1:] == (4, 32, 32) and train.classes == test.classes and "Flags" in train.classes
    assert 0.08 < len(test) / (len(train) + len(test)) < 0.12 and not set(train.names) & set(test.names)
    alpha, rgb = train.images[:, 3], train.images[:, :3]
    assert (alpha == -1).float().mean() > 0.1 and (alpha == 1).float().mean() > 0.3  # backgrounds and bodies
    assert (rgb.permute(1, 0, 2, 3)[:, alpha == -1] == -1).all()  # invisible pixels are black
    assert len(train.skipped) < 0.02 * len(train)  # sequences drawn as one glyph (Pillow with raqm)
