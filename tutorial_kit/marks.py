"""The pass and fail marks the kit prints beside a result.

✓ (U+2713) and × (U+00D7) are in Noto Sans CJK, the font the README installs for Chinese, and in
the usual system fonts (DejaVu, Segoe UI Symbol, Menlo), so they render everywhere the course is
read. ✅ and ❌ do not: they need a colour-emoji font, and without one Lab and the site show □.
"""

from __future__ import annotations

PASS = "✓"
FAIL = "×"
