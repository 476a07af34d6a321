<#
.SYNOPSIS
Opens the Attesta kiosk page full screen in Edge or Chrome once the collector answers.

.DESCRIPTION
Started at logon by the "Attesta kiosk" scheduled task that install.ps1
registers: the collector service starts at boot, possibly later than the
logon, so this waits for GET /healthz to answer before opening the page.
#>
[CmdletBinding()]
param(
	[string]$Url = 'http://127.0.0.1:8701/',
	[int]$WaitSeconds = 300
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$health = [Uri]::new([Uri]$Url, '/healthz').AbsoluteUri
$deadline = (Get-Date).AddSeconds($WaitSeconds)
while ($true) {
	try {
		$r = Invoke-WebRequest -Uri $health -UseBasicParsing -TimeoutSec 5
		if ($r.StatusCode -eq 200) { break }
	} catch {
		# not answering yet
	}
	if ((Get-Date) -gt $deadline) {
		throw "$Url did not answer within $WaitSeconds s; is the attesta-collector service running? (Get-Service attesta-collector)"
	}
	Start-Sleep -Seconds 1
}

$candidates = @(
	(Join-Path ${env:ProgramFiles(x86)} 'Microsoft\Edge\Application\msedge.exe'),
	(Join-Path $env:ProgramFiles 'Microsoft\Edge\Application\msedge.exe'),
	(Join-Path $env:ProgramFiles 'Google\Chrome\Application\chrome.exe'),
	(Join-Path ${env:ProgramFiles(x86)} 'Google\Chrome\Application\chrome.exe'),
	(Join-Path $env:LOCALAPPDATA 'Google\Chrome\Application\chrome.exe')
)
$browser = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
if (-not $browser) { throw 'Neither Microsoft Edge nor Google Chrome is installed.' }

# A profile of its own, so the kiosk never shows the user's tabs, and no
# first-run or restore prompts in front of a visitor. Start-Process joins
# the arguments with spaces, so the path is quoted here.
$profileDir = Join-Path $env:LOCALAPPDATA 'Attesta\kiosk'
New-Item -ItemType Directory -Force -Path $profileDir | Out-Null
$browserArgs = @(
	'--kiosk', $Url, '--edge-kiosk-type=fullscreen',
	"--user-data-dir=`"$profileDir`"",
	'--no-first-run', '--no-default-browser-check', '--noerrdialogs', '--disable-session-crashed-bubble'
)
Start-Process -FilePath $browser -ArgumentList $browserArgs
