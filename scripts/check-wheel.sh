#!/usr/bin/env bash
# The wheel ships what a user of `pip install witness-theory` needs (issue 23): build it, install it
# (not editable) into a clean virtual environment, and run the presets from there, in a directory
# outside the repository so that nothing is imported from the source tree. The heavy dependencies
# (torch, scikit-learn, ...) come from the project's .venv through a path entry (installing them a
# second time would add minutes and test nothing about the wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# from the committed tree only (a stale build/ or an untracked file must not reach the wheel)
mkdir "$tmp/src" && git archive --format=tar HEAD | tar -x -C "$tmp/src"
.venv/bin/python -m pip wheel --no-deps --no-build-isolation -q -w "$tmp/dist" "$tmp/src" >/dev/null
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-deps "$tmp"/dist/witness_theory-*.whl
site=$("$tmp/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
deps=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$deps" > "$site/zz-project-deps.pth"     # appended after the wheel's own site-packages
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import empirical, witness_theory
for m in (empirical, witness_theory):
    assert "/venv/" in m.__file__ and "site-packages" in m.__file__, f"{m.__name__} imported from {m.__file__}"
PY
"$tmp/venv/bin/python" -m empirical presets
"$tmp/venv/bin/python" -m empirical config --preset lidvae-fmnist --dump > "$tmp/lidvae.toml"
"$tmp/venv/bin/python" -m empirical config --preset lidvae-fmnist > "$tmp/a.json"
"$tmp/venv/bin/python" -m empirical config --method vanilla --config "$tmp/lidvae.toml" > "$tmp/b.json"
cmp "$tmp/a.json" "$tmp/b.json"
echo "wheel: presets ship and load from a clean install"
