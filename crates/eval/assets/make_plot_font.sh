#!/usr/bin/env bash
# Builds assets/DejaVuSans-subset.ttf, the font the invariance plot's PNG is drawn with (plotters'
# ab_glyph backend needs font bytes; loading a system font would need fontconfig). The font is
# DejaVu Sans (Bitstream Vera license with public-domain DejaVu changes, see LICENSE_DEJAVU),
# taken from matplotlib's wheel and cut to printable ASCII plus a few symbols with fontTools.
# Run from crates/eval/assets:  bash make_plot_font.sh
set -euo pipefail
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q "fonttools==4.60.1" "matplotlib==3.10.7"
src=$("$venv/bin/python" -c 'import matplotlib, pathlib; print(pathlib.Path(matplotlib.get_data_path()) / "fonts/ttf")')
"$venv/bin/pyftsubset" "$src/DejaVuSans.ttf" --unicodes="U+0020-007E,U+00B1,U+00B0,U+00D7,U+2212,U+2013,U+2014,U+2026,U+03C4" \
  --output-file=DejaVuSans-subset.ttf --no-hinting --desubroutinize --layout-features=''
cp "$src/LICENSE_DEJAVU" LICENSE_DEJAVU
