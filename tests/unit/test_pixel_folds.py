"""The training pipeline's groups and family folds (forensics.training.corpus and .folds): a GAN's output and
its input stay on one side of every split, and GAN families are held out one at a time."""

from __future__ import annotations

import numpy as np
import pytest

from forensics.training.corpus import ROUND2, group_of
from forensics.training.folds import family_folds


@pytest.mark.parametrize(("a", "b"), [
    # pix2pix output and its real target photo, in two repositories' result folders
    ("ai/Hemnath0075+ee/results/facades_pix2pix/test_latest/images/12_fake_B.png",
     "real/Hemnath0075+ee/results/facades_pix2pix/test_latest/images/12_real_B.png"),
    ("ai/BenfenYU+Fork/results/facades_cycle_gan/test_latest/images/12_fake_A.png",
     "real/Hemnath0075+ee/results/facades_pix2pix/test_latest/images/12_real_B.png"),
    # the same horse through the official model and a fine-tune
    ("ai/blechn+3dcv-final/results/h2zfinetune/test_latest/images/n02381460_140_fake.png",
     "real/blechn+3dcv-final/results/horse2zebra_pretrained/test_latest/images/n02381460_140_real.png"),
    ("ai/TachibanaYoshino+AnimeGAN/result/Hayao/photo_result/ 10.jpg",
     "real/TachibanaYoshino+AnimeGAN/result/Hayao/photo/ 10.jpg"),
    ("ai/shovelingpig+custom-stargan-v2/expr/eval/celeba_hq/male2female/0009_01.png",
     "ai/shovelingpig+custom-stargan-v2/expr/eval/celeba_hq/male2female/0009_10.png"),
    ("ai/xinyiff+Project-on-StyleGAN/results/00001-generate-images/seed0007.png",
     "ai/xinyiff+Project-on-StyleGAN/results/00003-generate-images/seed0007.png"),
])
def test_a_gan_output_and_its_input_share_a_group(a, b):
    assert group_of(a) == group_of(b)


def test_distinct_images_keep_distinct_groups():
    assert group_of("real/x/results/facades_pix2pix/test_latest/images/12_real_B.png") != \
        group_of("real/x/results/maps_pix2pix/test_latest/images/12_real_B.png")
    assert group_of("ai/s/expr/eval/celeba_hq/male2female/0009_01.png") != \
        group_of("ai/s/expr/eval/celeba_hq/male2female/0010_01.png")
    assert group_of("ai/flux/a.webp.tile0.png") == group_of("ai/flux/a.webp.tile3.png") != group_of("ai/flux/b.webp.tile0.png")


def rows_of(spec: dict[str, list[str]]) -> list[dict]:
    return [{"family": f, "group": g} for f, groups in spec.items() for g in groups]


def test_families_sharing_a_group_share_a_fold_and_gans_are_held_out_one_at_a_time():
    first = {f"fam{i}": [f"fam{i}:{j}" for j in range(50 + 10 * i)] for i in range(6)}
    first.update({f"real:src{i}": [f"src{i}:{j}" for j in range(40 + 5 * i)] for i in range(5)})
    spec = {**first,
            "cyclegan": ["t:1", "t:2", "c:3"], "pix2pix": ["t:1", "p:9"], "real:blechn/3dcv-final": ["t:2"],
            "stylegan2": [f"s:{j}" for j in range(30)], "stargan2": [f"g:{j}" for j in range(20)],
            "animegan": ["a:1"], "real:TachibanaYoshino/AnimeGAN": ["a:1"]}
    assert {"cyclegan", "pix2pix", "stylegan2", "stargan2", "animegan"} <= ROUND2
    rows = rows_of(spec)
    fold = family_folds(rows)
    of = {r["family"]: int(k) for r, k in zip(rows, fold)}
    assert of["cyclegan"] == of["pix2pix"] == of["real:blechn/3dcv-final"]
    assert of["animegan"] == of["real:TachibanaYoshino/AnimeGAN"]
    assert len({of["cyclegan"], of["stylegan2"], of["stargan2"], of["animegan"]}) == 4
    # the first round's families are placed as they were without round 2
    alone = rows_of(first)
    before = {r["family"]: int(k) for r, k in zip(alone, family_folds(alone))}
    assert all(of[f] == k for f, k in before.items())
    assert np.array_equal(np.bincount(family_folds(alone), minlength=5) > 0, np.ones(5, bool))
