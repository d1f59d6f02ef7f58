; The desk's Windows installer, built on Linux by .ci/windows with NSIS:
;   makensis -DVERSION=0.1.0 -DEXE=<path of gymgate-desk.exe> -DOUT=<setup .exe> gymgate-desk.nsi
; (NSIS rather than an MSI from wixl: msitools 0.101's wixl crashes on any Hangul in names,
; and the Start menu entry is called "gymgate 데스크".)
;
; Installs gymgate-desk.exe under Program Files\gymgate for all users, adds a Start menu entry
; and an entry in Settings > Apps, and starts the desk when anyone logs in (section
; "StartAtLogin"; untick it, or pass /NOSTARTUP with /S). The desk's data (pairing, cache with
; unsent check-ins, logs) is per user under %APPDATA% and is kept on uninstall, so a reinstall
; or an upgrade keeps the pairing and nothing waiting to be sent is lost.
;
; Silent install: setup.exe /S [/NOSTARTUP]   Silent uninstall: "…\gymgate\uninstall.exe" /S

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
InstallDir "$PROGRAMFILES64\gymgate"
RequestExecutionLevel admin
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
  SetShellVarContext all
  ; An upgrade replaces a running desk: stop it first (its outbox and cache are durable, so
  ; nothing is lost; it starts again at the next login or from the finish page).
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM gymgate-desk.exe'
  Pop $0
  SetOutPath "$INSTDIR"
  File "/oname=gymgate-desk.exe" "${EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$SMPROGRAMS\gymgate"
  CreateShortcut "$SMPROGRAMS\gymgate\${SHORTCUT}" "$INSTDIR\gymgate-desk.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "gymgate 데스크"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "gymgate"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\gymgate-desk.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "로그인할 때 시작 (Start at login)" StartAtLogin
  SetShellVarContext all
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
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "Uninstall"
  SetShellVarContext all
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /IM gymgate-desk.exe'
  Pop $0
  Delete "$SMSTARTUP\${SHORTCUT}"
  Delete "$SMPROGRAMS\gymgate\${SHORTCUT}"
  RMDir "$SMPROGRAMS\gymgate"
  Delete "$INSTDIR\gymgate-desk.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
SectionEnd
