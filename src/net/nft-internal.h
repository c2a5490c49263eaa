/* nft: what nft.c (the nfnetlink socket, batches, dumps, tables, chains and sets) and
 * nft-rules.c (the rules themselves, expression by expression) share.  Private to src/net. */
#pragma once

#include "net/net.h"

#include <libnftnl/rule.h>

#define NFT_TABLE "capsa"
/* The tag of the fixed rules every table needs (the jumps, the isolation defaults) */
#define NFT_TAG_BASE "capsa"
/* How many rules nft_rules_base adds: fewer or more in the table means they are re-made */
#define NFT_BASE_RULES 10

/* The regular chains of `inet capsa` the base rules jump to */
#define NFT_CHAIN_INTERNAL "internal" /* drops of internal networks (forward) */
#define NFT_CHAIN_BETWEEN  "between"  /* drops of routing between two networks (forward) */
#define NFT_CHAIN_ISOLATED "isolated" /* what an isolated network may reach (input) */
#define NFT_CHAIN_PORTS    "ports"    /* DNAT of published ports (nat prerouting, output) */
/* The sets of `inet capsa` (type ifname) */
#define NFT_SET_BRIDGES  "bridges"
#define NFT_SET_ISOLATED "isolated"

struct nft_batch;
/* Appends a rule (tagged, its table and chain set: nft_rule_new) to the batch, to be added at
 * the end of its chain; takes r and what ("add the masquerade rule of network `web`", for the
 * error message). */
void nft_batch_rule(struct nft_batch *b, int family, struct nftnl_rule *r, char *what);

/* A rule of table `FAMILY capsa` in chain, tagged (its comment) */
struct nftnl_rule *nft_rule_new(int family, const char *chain, const char *tag);

/* The rules (nft-rules.c) */
void nft_rules_base(struct nft_batch *b);
void nft_rules_network(struct nft_batch *b, const struct nft_network *nw, const char *tag);
int nft_rules_endpoint(struct nft_batch *b, const struct nft_endpoint *e, struct cx_error **err);
