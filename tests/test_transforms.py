import torch

from clipmem.data.batches.transforms import BatchTransform


def test_eval_transform_resizes_and_normalises():
    images = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    out = BatchTransform(48, train=False)(images)
    assert out.shape == (2, 3, 48, 48)
    t = BatchTransform(48)
    expected = (1.0 - t.mean.view(3)) / t.std.view(3)
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-5)


def test_full_crop_equals_plain_image():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    crop = BatchTransform(32, scale=(1.0, 1.0), ratio=(1.0, 1.0))(images)
    plain = BatchTransform(32, train=False)(images)
    assert torch.allclose(crop, plain, atol=1e-5)


def test_crops_follow_the_generator_and_differ_per_image():
    images = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8).repeat(4, 1, 1, 1)
    t = BatchTransform(32, scale=(0.5, 0.6))
    a = t(images, generator=torch.Generator().manual_seed(0))
    b = t(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
