; The desk's Windows installer, built on Linux by .ci/windows with NSIS:
;   makensis -DVERSION=0.1.0 -DEXE=<path of gymgate-desk.exe> -DOUT=<setup .exe> gymgate-desk.nsi
; (NSIS rather than an MSI from wixl: msitools 0.101's wixl crashes on any Hangul in names,
; and the Start menu entry is called "gymgate 데스크".)
;
; Installs gymgate-desk.exe for the Windows user who runs it, under
; %LOCALAPPDATA%\Programs\gymgate, adds a Start menu entry and an entry in Settings > Apps, and
; starts the desk when that user logs in (section "StartAtLogin"; untick it, or pass /NOSTARTUP
; with /S). Per user, with no administrator rights, because the desk updates itself: a signed
; release's installer is run by the desk's update helper with /S, and an installer that asked
; for elevation would put a UAC prompt in front of staff who cannot answer it (Tauri's
; "currentUser" mode and Velopack do the same). The desk's data (pairing, cache with unsent
; check-ins, logs) is per user under %APPDATA% too and is kept on uninstall, so a reinstall or
; an upgrade keeps the pairing and nothing waiting to be sent is lost.
;
; Silent install: setup.exe /S [/NOSTARTUP]   Silent uninstall: "…\gymgate\uninstall.exe" /S
; The update helper: setup.exe /S /UPDATE /D=<folder of the installed program> (keeps whether
; the desk starts at login as it was).

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"
!include "x64.nsh"

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\gymgate-desk"
!define SHORTCUT "gymgate 데스크.lnk"

Name "gymgate 데스크"
OutFile "${OUT}"
InstallDir "$LOCALAPPDATA\Programs\gymgate"
RequestExecutionLevel user
ShowInstDetails nevershow
BrandingText "gymgate"

VIProductVersion "${VERSION}.0"
VIFileVersion "${VERSION}.0"
VIAddVersionKey /LANG=1042 "ProductName" "gymgate 데스크"
VIAddVersionKey /LANG=1042 "FileDescription" "gymgate 데스크 설치 프로그램"
VIAddVersionKey /LANG=1042 "CompanyName" "gymgate"
VIAddVersionKey /LANG=1042 "LegalCopyright" "gymgate"
VIAddVersionKey /LANG=1042 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1042 "ProductVersion" "${VERSION}"

!define MUI_ICON "gymgate-desk.ico"
!define MUI_UNICON "gymgate-desk.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\gymgate-desk.exe"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "Korean"
!insertmacro MUI_LANGUAGE "English"

Section "gymgate 데스크" Desk
  SectionIn RO
  SetShellVarContext current
  ; An upgrade replaces a running desk: stop it first (its outbox and cache are durable, so
  ; nothing is lost; it starts again at the next login, from the finish page, or — for an
  ; update — from the update helper, whose file has another name and is not stopped).
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM gymgate-desk.exe'
  Pop $0
  SetOutPath "$INSTDIR"
  File "/oname=gymgate-desk.exe" "${EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$SMPROGRAMS\gymgate"
  CreateShortcut "$SMPROGRAMS\gymgate\${SHORTCUT}" "$INSTDIR\gymgate-desk.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "gymgate 데스크"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "gymgate"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\gymgate-desk.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "로그인할 때 시작 (Start at login)" StartAtLogin
  SetShellVarContext current
  CreateShortcut "$SMSTARTUP\${SHORTCUT}" "$INSTDIR\gymgate-desk.exe"
SectionEnd

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "gymgate 데스크는 64비트 Windows 10 이상에서 동작합니다.$\r$\ngymgate desk needs 64-bit Windows 10 or later."
    Abort
  ${EndIf}
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/NOSTARTUP" $R1
  ${IfNot} ${Errors}
    !insertmacro UnselectSection ${StartAtLogin}
  ${EndIf}
  ; An update keeps the choice made at install: no start-at-login entry, none added.
  ClearErrors
  ${GetOptions} $R0 "/UPDATE" $R1
  ${IfNot} ${Errors}
    SetShellVarContext current
    ${IfNot} ${FileExists} "$SMSTARTUP\${SHORTCUT}"
      !insertmacro UnselectSection ${StartAtLogin}
    ${EndIf}
  ${EndIf}
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "Uninstall"
  SetShellVarContext current
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM gymgate-desk.exe'
  Pop $0
  Delete "$SMSTARTUP\${SHORTCUT}"
  Delete "$SMPROGRAMS\gymgate\${SHORTCUT}"
  RMDir "$SMPROGRAMS\gymgate"
  Delete "$INSTDIR\gymgate-desk.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
