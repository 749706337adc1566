"""Text from data made inert where it meets HTML, Markdown or JavaScript in a report.

Catalog names, outline attributes, dates, labels, parameters and error messages reach the report page;
a shared page must show them as text, never run them. Each boundary has one function here, built on the
standard library's own escaping (:func:`html.escape`, :func:`json.dumps`):

- :func:`html_text` for text inside HTML elements and quoted attributes;
- :func:`md_text` for text inside a Markdown string (nbconvert's Markdown passes raw HTML through, and
  ``[x](javascript:...)`` would become a live link);
- :func:`md_code` for a value shown as a Markdown code span;
- :func:`script_json` for data embedded in a page (a ``<script type="application/json">`` block that
  ``</script>`` or ``<!--`` inside the data cannot end early).
"""

from __future__ import annotations

import html
import re
from typing import Any

#: CommonMark's backslash-escapable ASCII punctuation that can start formatting, links, HTML or headings.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~:=$-])")
#: Characters a JSON text may hold that end a script block or an HTML comment, or end a JS line.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def html_text(value: Any) -> str:
    """``value`` as text for HTML element content or a quoted attribute (``& < > " '`` escaped)."""
    return html.escape(str(value), quote=True)


def md_text(value: Any) -> str:
    r"""``value`` as literal text inside Markdown: one line, no HTML, no link, no emphasis, no heading.

    Markdown punctuation is backslash-escaped (``\[``, ``\(``, ``\:``...) and then HTML special
    characters are escaped, so ``<img src=x onerror=...>`` shows as text and ``[x](javascript:...)``
    stays plain text.
    """
    one_line = " ".join(str(value).split())
    return html.escape(_MD_SPECIAL.sub(r"\\\1", one_line), quote=True)


def md_code(value: Any) -> str:
    """``value`` as a Markdown code span (shown literally: the renderer escapes HTML inside it)."""
    text = " ".join(str(value).split()).replace("`", "'")
    return f"`{text}`"


def script_json(value: Any) -> str:
    r"""Strict JSON of ``value`` safe inside ``<script type="application/json">`` (read with ``textContent``).

    ``<``, ``>`` and ``&`` are written as ``\u003c``... (still the same JSON), so no ``</script>``,
    ``<!--`` or ``<![CDATA[`` in the data can end or change the block.
    """
    from glacierlab.files import strict_json

    text = strict_json(value)
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_UNSAFE[m.group(0)], text)
