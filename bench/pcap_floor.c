/* The floor for any libpcap reader: pull every packet of a capture through
 * libpcap and do nothing else. With -t, also read the first 64 bytes of each
 * packet, as a decoder would. Prints the packet count.
 *
 *   pcap_floor [-t] FILE
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int touch = argc > 2 && strcmp(argv[1], "-t") == 0;
    const char *path = argv[argc - 1];
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    if (!p) {
        fprintf(stderr, "pcap_floor: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const unsigned char *data;
    unsigned long long packets = 0, sum = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        packets++;
        if (touch) {
            unsigned n = h->caplen < 64 ? h->caplen : 64;
            for (unsigned i = 0; i < n; i++) sum += data[i];
        }
    }
    pcap_close(p);
    printf("%llu\n", packets);
    return sum == 42 ? 2 : 0; /* keep the touch loop from being optimised out */
}
