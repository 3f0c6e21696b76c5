#!/usr/bin/env sh
# Install a git pre-commit hook that keeps requirements.txt in step with uv.lock.
# The hook runs `uv export` only when pyproject.toml or uv.lock is part of the commit.
set -e
root=$(git rev-parse --show-toplevel)
hook="$root/.git/hooks/pre-commit"
cat > "$hook" <<'HOOK'
#!/usr/bin/env sh
# Keep requirements.txt matching uv.lock (installed by install-hooks.sh).
if git diff --cached --name-only | grep -qE '^(pyproject\.toml|uv\.lock)$'; then
  uv lock --check >/dev/null 2>&1 || uv lock
  uv export --frozen --format requirements-txt --no-hashes --no-emit-project \
    --output-file requirements.txt >/dev/null
  git add uv.lock requirements.txt
fi
HOOK
chmod +x "$hook"
echo "pre-commit hook installed at $hook"
