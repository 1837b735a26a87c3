#include <winsock2.h>
#include <ws2tcpip.h>
#include <stdio.h>
/* The control of the dual-stack listener's test under wine (xtask/src/windows/core_tests.rs):
   the default IPV6_V6ONLY of a new AF_INET6 socket, whether ::1 is there, and whether a [::]
   listener takes 127.0.0.1 with that default and with the option cleared. On Windows the default
   is on and IPv4 clients are refused; wine must behave the same for the test to mean anything.
   Prints one line per case; exits 1 when a socket cannot listen. */
static int try_connect(int family, const char *addr, unsigned short port) {
    SOCKET c = socket(family, SOCK_STREAM, IPPROTO_TCP);
    int r;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {0}; a.sin6_family = AF_INET6; a.sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a.sin6_addr); r = connect(c, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port);
        inet_pton(AF_INET, addr, &a.sin_addr); r = connect(c, (struct sockaddr *)&a, sizeof a);
    }
    closesocket(c);
    return r == 0;
}
int main(void) {
    WSADATA w; WSAStartup(MAKEWORD(2, 2), &w);
    for (int off = 0; off < 2; off++) {
        SOCKET s = socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
        DWORD v = 99; int len = sizeof v;
        getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (char *)&v, &len);
        if (off) { DWORD z = 0; setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (char *)&z, sizeof z); }
        struct sockaddr_in6 a = {0}; a.sin6_family = AF_INET6; a.sin6_addr = in6addr_any;
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { printf("bind/listen failed %d\n", WSAGetLastError()); return 1; }
        int alen = sizeof a; getsockname(s, (struct sockaddr *)&a, &alen);
        unsigned short port = ntohs(a.sin6_port);
        printf("%s: default IPV6_V6ONLY=%lu; [::]:%u takes 127.0.0.1: %s, ::1: %s\n",
               off ? "V6ONLY cleared" : "as created", (unsigned long)v, port,
               try_connect(AF_INET, "127.0.0.1", port) ? "yes" : "no",
               try_connect(AF_INET6, "::1", port) ? "yes" : "no");
        closesocket(s);
    }
    return 0;
}
