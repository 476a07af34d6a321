<#
.SYNOPSIS
Installs, upgrades or removes the Attesta collector on a Windows kiosk.

.DESCRIPTION
Run from the unpacked zip in an elevated PowerShell:

  .\install.ps1 -Hub https://hub.example.com -Code ABCD-EFGH-JKLM-NPQR -Pin 4711

It copies attesta-collector.exe to -InstallDir, enrolls the kiosk (when
-Code is given), registers and starts the attesta-collector service
(attesta-collector.exe service install) and registers the logon task
"Attesta kiosk". A service runs in session 0 and cannot show a window, so the
kiosk page is opened by that task, as the user who logs on, in Edge or Chrome
kiosk mode once the collector answers.

Running it again with a newer zip upgrades: the service is stopped, the exe
replaced and the service started; the collector migrates its database when it
starts. The data folder is kept.

  .\install.ps1 -Uninstall

removes the task, the service and the program, and keeps the data folder: it
may hold captures the hub has not received yet.
#>
[CmdletBinding()]
param(
	# The hub's URL and a one-time code from 'attesta-hub enroll'.
	[string]$Hub,
	[string]$Code,
	# Operator screen PIN, 4 to 12 digits.
	[string]$Pin,
	[string]$InstallDir = (Join-Path $env:ProgramFiles 'Attesta'),
	[string]$DataDir = (Join-Path $env:ProgramData 'Attesta\collector'),
	# host:port of the kiosk page; keep it on localhost.
	[string]$Listen = '127.0.0.1:8701',
	# The account whose logon opens the kiosk page; default: every user.
	[string]$KioskUser,
	[switch]$Uninstall
)
#Requires -RunAsAdministrator
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$service = 'attesta-collector'
$taskName = 'Attesta kiosk'
$exe = Join-Path $InstallDir 'attesta-collector.exe'

# Collector runs attesta-collector.exe and stops the script on failure; the
# exe prints its own reason.
function Collector([string[]]$Arguments) {
	& $exe @Arguments
	if ($LASTEXITCODE -ne 0) {
		throw "attesta-collector $($Arguments -join ' ') failed (exit code $LASTEXITCODE)"
	}
}

if ($Uninstall) {
	Unregister-ScheduledTask -TaskName $taskName -Confirm:$false -ErrorAction SilentlyContinue
	if (Get-Service -Name $service -ErrorAction SilentlyContinue) {
		Collector @('service', 'uninstall')   # stops it first
	}
	if (Test-Path $InstallDir) { Remove-Item -Recurse -Force $InstallDir }
	Write-Host "Attesta collector removed. Its data stays in $DataDir; delete it once the hub has every capture."
	return
}

$sig = Get-AuthenticodeSignature (Join-Path $PSScriptRoot 'attesta-collector.exe')
if ($sig.Status -ne 'Valid') {
	Write-Warning "attesta-collector.exe signature: $($sig.Status). $($sig.StatusMessage) (builds signed with the test certificate show this)"
}

New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir | Out-Null
# The data folder holds the kiosk's signing key and captures not yet synced:
# SYSTEM (the service) and Administrators only, not the kiosk's desktop user.
& icacls.exe $DataDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls $DataDir failed (exit code $LASTEXITCODE)" }

$installed = [bool](Get-Service -Name $service -ErrorAction SilentlyContinue)
if ($installed) {
	Stop-Service -Name $service   # waits; the collector lets captures in progress finish
}
Copy-Item -Force -Path (Join-Path $PSScriptRoot 'attesta-collector.exe'), (Join-Path $PSScriptRoot 'attesta-kiosk.ps1') -Destination $InstallDir

if ($Code) {
	if (-not $Hub) { throw '-Code needs -Hub, the hub URL the code was made for.' }
	$enroll = @('enroll', '--data', $DataDir, '--hub', $Hub, '--code', $Code)
	if ($Pin) { $enroll += @('--pin', $Pin) }
	Collector $enroll
} elseif (-not (Test-Path (Join-Path $DataDir 'collector.db'))) {
	throw 'A new kiosk needs -Hub and -Code (from attesta-hub enroll on the hub) to enroll.'
}

if (-not $installed) {
	Collector @('service', 'install', '--data', $DataDir, '--listen', $Listen)
}
Start-Service -Name $service

$url = "http://$Listen/"
$kiosk = Join-Path $InstallDir 'attesta-kiosk.ps1'
$action = New-ScheduledTaskAction -Execute 'powershell.exe' `
	-Argument "-NoProfile -NonInteractive -WindowStyle Hidden -ExecutionPolicy Bypass -File `"$kiosk`" -Url $url"
if ($KioskUser) {
	$trigger = New-ScheduledTaskTrigger -AtLogOn -User $KioskUser
	$principal = New-ScheduledTaskPrincipal -UserId $KioskUser -LogonType Interactive -RunLevel Limited
} else {
	$trigger = New-ScheduledTaskTrigger -AtLogOn
	# BUILTIN\Users by SID: the name is translated on non-English Windows.
	$principal = New-ScheduledTaskPrincipal -GroupId 'S-1-5-32-545' -RunLevel Limited
}
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit ([TimeSpan]::Zero)
Register-ScheduledTask -TaskName $taskName -Action $action -Trigger $trigger -Principal $principal -Settings $settings `
	-Description "Opens the Attesta kiosk page ($url) full screen once the collector answers." -Force | Out-Null

Collector @('service', 'status')
Write-Host "Kiosk page: $url (opens full screen at the next logon)."
