"""Every relative link and every ``#anchor`` of README.md and docs/ resolves.

Anchors follow GitHub's rule for heading ids: the heading's text (inline
markup removed: code backticks, emphasis, link targets), lower-cased, every
character that is not a letter, digit, space, hyphen or underscore dropped,
spaces turned into hyphens; a repeated id gets ``-1``, ``-2``, ... appended.
"""
import glob
import os.path as osp
import re
import unicodedata

import pytest
from common import ROOT

PAGES = sorted(['README.md'] + [
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)])

FENCE = re.compile(r'^(```|~~~).*?^\1\s*$', re.S | re.M)
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?'
                  r'(?:\s+"[^"]*")?\s*\)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$', re.M)


def slug(text):
    """GitHub's id of a heading whose markdown text is ``text``."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # links: their text
    text = re.sub(r'<[^>]+>', '', text)  # inline html
    text = text.replace('`', '').replace('*', '')
    text = re.sub(r'(?<!\w)_+|_+(?!\w)', '', text)  # _emphasis_, not snake_case
    out = []
    for char in text.strip().lower():
        if char in ' -_' or unicodedata.category(char)[0] in 'LN':
            out.append('-' if char == ' ' else char)
    return ''.join(out)


def _text(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        return FENCE.sub('', f.read())


def anchors(page):
    seen = {}
    out = set()
    for _, heading in HEADING.findall(_text(page)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f'{base}-{n}')
    return out


def links(page):
    text = re.sub(r'`[^`\n]*`', '', _text(page))  # inline code is not a link
    return LINK.findall(text)


def test_slug_follows_github():
    assert slug('Into an existing environment') == 'into-an-existing-environment'
    assert slug("With mmdet's or mmseg's own tools") == \
        'with-mmdets-or-mmsegs-own-tools'
    assert slug('`mmhatnet::` bases') == 'mmhatnet-bases'
    assert slug('Speed: `compare`, every size') == 'speed-compare-every-size'
    assert slug('G1/G2 without retraining') == 'g1g2-without-retraining'
    assert slug('0.1.0 (unreleased)') == '010-unreleased'
    assert slug('last_stage_pool_to') == 'last_stage_pool_to'


def test_pages_found():
    assert 'README.md' in PAGES and 'docs/faq.md' in PAGES


@pytest.mark.parametrize('page', PAGES)
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r'[a-z][a-z0-9+.-]*:', target):  # https:, mailto:
            continue
        path, _, anchor = target.partition('#')
        where = osp.normpath(osp.join(osp.dirname(page), path)) if path \
            else page
        if not osp.exists(osp.join(ROOT, where)):
            broken.append(f'{target}: no file {where}')
            continue
        if anchor:
            if not where.endswith('.md'):
                broken.append(f'{target}: an anchor into a non-page')
            elif anchor not in anchors(where):
                broken.append(f'{target}: no heading #{anchor} in {where} '
                              f'(it has: {", ".join(sorted(anchors(where)))})')
    assert not broken, f'{page}:\n' + '\n'.join(broken)
