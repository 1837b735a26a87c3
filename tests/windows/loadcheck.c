/* Load check for the Windows build (`cargo xtask build --windows`, run under wine):
 *
 *     loadcheck.exe <path to the DLL> <entry symbol>
 *
 * loads the DLL as Godot does (LoadLibraryW: the loader resolves its imports, runs DllMain and
 * the static initialisers) and resolves the manifest's entry symbol with GetProcAddress. The
 * entry function itself is not called: it needs the interface pointers only Godot can give.
 * Prints "loaded <dll> at 0x<base>, <symbol> at 0x<address> (RVA 0x<offset>)" and exits 0 (the
 * caller compares the offset with the DLL's export table); prints the Windows error and exits 1
 * when the DLL does not load, 2 when the symbol is missing, 3 on bad arguments. */
#include <stdio.h>
#include <windows.h>

static void print_error(const char *what, DWORD code) {
    char text[512] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, text,
                   sizeof text, NULL);
    for (char *end = text + strlen(text); end > text && (end[-1] == '\n' || end[-1] == '\r'); end--) {
        end[-1] = '\0';
    }
    printf("%s failed: error %lu (%s)\n", what, (unsigned long)code, text);
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 3) {
        printf("usage: loadcheck.exe <dll> <entry symbol>\n");
        return 3;
    }
    /* No message boxes from the loader: failures are reported as error codes. */
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX);
    HMODULE dll = LoadLibraryW(argv[1]);
    if (dll == NULL) {
        printf("LoadLibraryW(%ls): ", argv[1]);
        print_error("loading", GetLastError());
        return 1;
    }
    char symbol[256];
    if (WideCharToMultiByte(CP_UTF8, 0, argv[2], -1, symbol, sizeof symbol, NULL, NULL) == 0) {
        print_error("converting the symbol name", GetLastError());
        return 3;
    }
    FARPROC entry = GetProcAddress(dll, symbol);
    if (entry == NULL) {
        printf("GetProcAddress(%s) in %ls: ", symbol, argv[1]);
        print_error("resolving", GetLastError());
        return 2;
    }
    unsigned long long base = (unsigned long long)(ULONG_PTR)dll;
    unsigned long long address = (unsigned long long)(ULONG_PTR)entry;
    printf("loaded %ls at 0x%llx, %s at 0x%llx (RVA 0x%llx)\n", argv[1], base, symbol, address, address - base);
    fflush(stdout);
    FreeLibrary(dll);
    return 0;
}
