"""The toy dataset generator writes valid, learnable, reproducible data."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from common import ROOT, load_tool, read_tree
from PIL import Image
from pycocotools.coco import COCO

TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'make_toy_data.py')


toy = load_tool('dataset_converters/make_toy_data.py')


def _polygon_area(flat):
    x, y = np.asarray(flat[0::2]), np.asarray(flat[1::2])
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    summary = toy.make_coco(root, 8, 4, size=96, seed=0)
    assert summary.startswith('coco:') and root in summary
    return root


@pytest.mark.parametrize('split, count', [('train', 8), ('val', 4)])
def test_coco_annotations_are_valid_and_tight(coco_root, split, count):
    coco = COCO(osp.join(coco_root, 'annotations',
                         f'instances_{split}2017.json'))
    cats = coco.loadCats(coco.getCatIds())
    assert [c['id'] for c in cats] == [1, 2, 3, 4]
    assert tuple(c['name'] for c in cats) == toy.COCO_CLASSES
    assert len(coco.getImgIds()) == count
    widths = set()
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        W, H = info['width'], info['height']
        widths.add(W)
        with Image.open(osp.join(coco_root, f'{split}2017',
                                 info['file_name'])) as im:
            assert im.size == (W, H) and im.mode == 'RGB'
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert 1 <= len(anns) <= 4
        for ann in anns:
            assert ann['category_id'] in coco.getCatIds()
            assert ann['iscrowd'] == 0
            x, y, w, h = ann['bbox']
            assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
            # Extent between ~12% and ~45% of the short side (a rotated
            # triangle spans at least 3/4 of its nominal size).
            assert 0.08 * H <= max(w, h) <= 0.46 * H
            [poly] = ann['segmentation']
            assert len(poly) >= 6 and len(poly) % 2 == 0
            xs, ys = poly[0::2], poly[1::2]
            assert min(xs) == pytest.approx(x, abs=1e-6)
            assert min(ys) == pytest.approx(y, abs=1e-6)
            assert max(xs) == pytest.approx(x + w, abs=1e-6)
            assert max(ys) == pytest.approx(y + h, abs=1e-6)
            assert ann['area'] == pytest.approx(_polygon_area(poly), abs=0.01)
            # The rasterised polygon covers about as many pixels as its
            # area says, i.e. it is a simple, correctly ordered polygon.
            assert coco.annToMask(ann).sum() == pytest.approx(
                ann['area'], rel=0.15)
    assert widths != {96}, 'non-square images should occur'


def test_coco_polygons_follow_the_drawn_shapes(coco_root):
    """Pixels inside each visible polygon have the colour of its class."""
    coco = COCO(osp.join(coco_root, 'annotations',
                         'instances_train2017.json'))
    checked = 0
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        img = np.asarray(Image.open(
            osp.join(coco_root, 'train2017', info['file_name'])), np.float32)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        masks = [coco.annToMask(a).astype(bool) for a in anns]
        for i, ann in enumerate(anns):
            # Annotations are in drawing order: later ones may cover it.
            visible = masks[i].copy()
            for later in masks[i + 1:]:
                visible &= ~later
            if visible.sum() < 30:
                continue
            colour = toy.SHAPE_COLOURS[ann['category_id'] - 1]
            mean = img[visible].mean(axis=0)
            assert np.abs(mean - colour).max() < 40, (ann, mean)
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize('layout', ['coco', 'ade', 'imagenet'])
def test_same_seed_gives_identical_bytes(tmp_path, layout):
    make = toy.MAKERS[layout]
    make(str(tmp_path / 'a'), 3, 2, 64, 7)
    make(str(tmp_path / 'b'), 3, 2, 64, 7)
    make(str(tmp_path / 'c'), 3, 2, 64, 8)
    first = read_tree(tmp_path / 'a')
    assert len(first) >= 5
    assert first == read_tree(tmp_path / 'b')
    assert first != read_tree(tmp_path / 'c')


def test_ade_layout_and_label_maps(tmp_path):
    root = str(tmp_path)
    toy.make_ade(root, 6, 3, size=96, seed=0)
    num_labels = len(toy.ADE_CLASSES)
    assert toy.ADE_CLASSES[0] == 'background'
    for folder, split, count in (('training', 'train', 6),
                                 ('validation', 'val', 3)):
        images = sorted(os.listdir(osp.join(root, 'images', folder)))
        labels = sorted(os.listdir(osp.join(root, 'annotations', folder)))
        assert len(images) == count
        assert images[0] == f'ADE_{split}_00000001.jpg'
        assert [n[:-4] for n in images] == [n[:-4] for n in labels]
        for img_name, label_name in zip(images, labels):
            img = Image.open(osp.join(root, 'images', folder, img_name))
            seg = Image.open(osp.join(root, 'annotations', folder,
                                      label_name))
            assert seg.mode == 'L' and seg.size == img.size
            seg = np.asarray(seg)
            assert seg.dtype == np.uint8 and seg.ndim == 2
            values = set(np.unique(seg).tolist())
            assert values <= set(range(num_labels + 1))
            # ignore (0), background (1) and at least one shape.
            assert {0, 1} <= values and max(values) >= 2
            assert (seg == 1).mean() > 0.3
            pixels = np.asarray(img.convert('RGB'), np.float32)
            for value in values - {0, 1}:
                mean = pixels[seg == value].mean(axis=0)
                colour = toy.SHAPE_COLOURS[value - 2]
                assert np.abs(mean - colour).max() < 40


def test_imagenet_layout_and_meta(tmp_path):
    root = str(tmp_path)
    toy.make_imagenet(root, 8, 4, size=64, seed=0)
    with open(osp.join(root, 'classes.txt')) as f:
        assert tuple(f.read().split('\n')[:-1]) == toy.IMAGENET_CLASSES
    for split, count in (('train', 8), ('val', 4)):
        assert sorted(os.listdir(osp.join(root, split))) == sorted(
            toy.IMAGENET_CLASSES)
        with open(osp.join(root, 'meta', f'{split}.txt')) as f:
            lines = f.read().splitlines()
        assert len(lines) == count
        seen = set()
        for line in lines:
            rel, label = line.split(' ')
            class_name, file_name = rel.split('/')
            assert file_name.endswith('.JPEG')
            assert toy.IMAGENET_CLASSES[int(label)] == class_name
            with Image.open(osp.join(root, split, rel)) as im:
                assert im.mode == 'RGB' and im.height == 64
            seen.add(class_name)
        assert seen == set(toy.IMAGENET_CLASSES)
        on_disk = sum(len(files) for _, _, files in os.walk(
            osp.join(root, split)))
        assert on_disk == count


def test_refuses_non_empty_output_without_overwrite(tmp_path, capsys,
                                                    cli_error):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('precious')
    message = cli_error(toy.main, ['coco', str(out), '--train', '1',
                                   '--val', '1'])
    assert 'not empty' in message and '--overwrite' in message
    assert os.listdir(out) == ['keep.txt']
    with pytest.raises(FileExistsError):
        toy.make_ade(str(out), 1, 1, 64, 0)

    toy.main(['ade', str(out), '--train', '1', '--val', '1', '--size', '64',
              '--overwrite'])
    assert sorted(os.listdir(out)) == [toy.MARKER, 'annotations', 'images']
    assert capsys.readouterr().out.count('\n') == 1


@pytest.mark.parametrize('first, again', [('coco', 'coco'), ('ade', 'ade'),
                                          ('imagenet', 'imagenet'),
                                          ('imagenet', 'coco')])
def test_a_rerun_replaces_its_own_toy_set(tmp_path, first, again):
    out = tmp_path / 'toy'
    small = ['--train', '2', '--val', '1', '--size', '64']
    toy.main([first, str(out), *small])
    toy.main([again, str(out), *small, '--seed', '3'])  # no --overwrite
    fresh = tmp_path / 'fresh'
    toy.main([again, str(fresh), *small, '--seed', '3'])
    assert read_tree(out) == read_tree(fresh)


def test_a_toy_set_with_foreign_files_is_not_replaced(tmp_path, cli_error):
    out = tmp_path / 'toy'
    small = ['--train', '1', '--val', '1', '--size', '64']
    toy.main(['coco', str(out), *small])
    (out / 'notes.txt').write_text('mine')
    message = cli_error(toy.main, ['coco', str(out), *small])
    assert 'not a toy set written by this tool' in message
    assert '--overwrite' in message
    assert (out / 'notes.txt').read_text() == 'mine'
    assert (out / 'annotations' / 'instances_train2017.json').exists()


def test_the_command_runs_again_on_its_own_output(tmp_path):
    out = tmp_path / 'toy_coco'
    command = [sys.executable, TOOL, 'coco', str(out), '--train', '2',
               '--val', '1', '--size', '64']
    for _ in range(2):
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
    assert len(os.listdir(out / 'train2017')) == 2


def test_command_line_prints_one_summary_line(tmp_path):
    out = tmp_path / 'toy_coco'
    result = subprocess.run(
        [sys.executable, TOOL, 'coco', str(out), '--train', '2', '--val',
         '1', '--size', '64'], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('\n') == 1 and str(out) in result.stdout
    with open(out / 'annotations' / 'instances_val2017.json') as f:
        assert len(json.load(f)['images']) == 1
    assert len(os.listdir(out / 'train2017')) == 2


def test_object_size_sets_the_extent_of_every_object(tmp_path):
    out = tmp_path / 'big'
    toy.main(['coco', str(out), '--train', '6', '--val', '0', '--size', '96',
              '--object-size', '0.4', '0.5'])
    coco = COCO(str(out / 'annotations' / 'instances_train2017.json'))
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann['image_id'])[0]
        short = min(img['width'], img['height'])
        # the extent (the larger side of the box) is 2r: exactly 2r for
        # squares, circles and crosses, at most 2r for a rotated triangle
        extent = max(ann['bbox'][2:]) / short
        assert extent <= 0.5 + 0.01
        assert extent >= 0.4 * (0.75 if ann['category_id'] == 3 else 1) - 0.01


@pytest.mark.parametrize('low, high', [('0.5', '0.2'), ('0', '0.3'),
                                       ('0.5', '1.5')])
def test_object_size_out_of_range_is_one_error_line(tmp_path, low, high,
                                                    cli_error):
    out = tmp_path / 'bad'
    assert cli_error(toy.main, ['coco', str(out), '--object-size', low,
                                high]).startswith('error: object sizes')
    assert not out.exists()
