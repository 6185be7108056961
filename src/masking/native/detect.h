// The value detectors of src/masking/detectors.ts (with detect-numbers.ts and detect-tokens.ts), in C, for
// the native row masker: the same matches for the same bytes (test/unit/masking/native-detect.test.ts holds
// the two against each other), kinds numbered as detectorKinds is.
#ifndef SQLWARDEN_DETECT_H
#define SQLWARDEN_DETECT_H
#include <stdint.h>

enum {
  K_EMAIL = 0,
  K_CARD,
  K_SSN,
  K_IBAN,
  K_PHONE,
  K_IPV4,
  K_IPV6,
  K_JWT,
  K_AWS,
  K_PRIVATE_KEY,
  K_BEARER,
  K_API,
  DETECTOR_KINDS
};

#define MAX_SPANS 64

typedef struct {
  int64_t start[MAX_SPANS];
  int64_t end[MAX_SPANS];
  int kind[MAX_SPANS];
  int n;
  // Set when the value holds what only JS can decide (a JWT's header must be parsed as JSON) or more matches
  // than MAX_SPANS: the row is left to JS.
  int unsure;
} Matches;

// Fills the detectors' tables, once per process whatever the threads that call it.
void detectInitOnce(void);

// Whether buf[start, end) is, whole, one match of `kind` (an e-mail, card or SSN; others: 0), as scanValue
// would find it (detectors.ts wholeMatch): the value then masks as that one span.
int wholeMatch(int kind, const uint8_t *buf, int64_t start, int64_t end);
#define WHOLE_KINDS ((1u << K_EMAIL) | (1u << K_CARD) | (1u << K_SSN))

// Every detector in `kinds` (bit k: kind k) over buf[start, end): the matches to mask, ordered by start,
// overlaps dropped (SpanMasker#scanUnconfirmed), in m. Returns m->n.
int scanValue(const uint8_t *buf, int64_t start, int64_t end, uint32_t kinds, Matches *m);

#endif
