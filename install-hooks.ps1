# Install a git pre-commit hook that keeps requirements.txt in step with uv.lock (Windows).
# The hook runs `uv export` only when pyproject.toml or uv.lock is part of the commit.
$ErrorActionPreference = "Stop"
$root = (git rev-parse --show-toplevel).Trim()
$hook = Join-Path $root ".git/hooks/pre-commit"
$body = @'
#!/usr/bin/env sh
# Keep requirements.txt matching uv.lock (installed by install-hooks.ps1).
if git diff --cached --name-only | grep -qE '^(pyproject\.toml|uv\.lock)$'; then
  uv lock --check >/dev/null 2>&1 || uv lock
  uv export --frozen --format requirements-txt --no-hashes --no-emit-project \
    --output-file requirements.txt >/dev/null
  git add uv.lock requirements.txt
fi
'@
# git for Windows runs hooks with its bundled sh; write LF line endings.
[System.IO.File]::WriteAllText($hook, $body.Replace("`r`n", "`n"))
Write-Host "pre-commit hook installed at $hook"
