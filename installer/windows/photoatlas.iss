; Inno Setup script for PhotoAtlas on Windows (https://jrsoftware.org/isinfo.php).
; Built by installer/build.py after PyInstaller, which passes the version and the onedir folder:
;   iscc /DAppVersion=0.1.0 /DSourceDir=build\dist\PhotoAtlas /Obuild installer\windows\photoatlas.iss
; Per-user install (no administrator rights needed), Start menu and optional desktop shortcut, uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\dist\PhotoAtlas"
#endif

[Setup]
AppId={{6C1B7E0A-3F5D-4C7B-9E2A-5A7D1C9B4F21}
AppName=PhotoAtlas
AppVersion={#AppVersion}
AppPublisher=PhotoAtlas
DefaultDirName={localappdata}\Programs\PhotoAtlas
DefaultGroupName=PhotoAtlas
PrivilegesRequired=lowest
OutputBaseFilename=PhotoAtlas-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\photoatlas.ico
UninstallDisplayIcon={app}\photoatlas.exe
Compression=lzma2/normal
SolidCompression=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\PhotoAtlas"; Filename: "{app}\photoatlas.exe"
Name: "{group}\Uninstall PhotoAtlas"; Filename: "{uninstallexe}"
Name: "{autodesktop}\PhotoAtlas"; Filename: "{app}\photoatlas.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\photoatlas.exe"; Description: "{cm:LaunchProgram,PhotoAtlas}"; Flags: nowait postinstall skipifsilent
