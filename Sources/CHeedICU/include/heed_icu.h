#ifndef HEED_ICU_H
#define HEED_ICU_H
#include <stdint.h>
#include <stddef.h>

/// Opaque word segmenter over a UTF-8 buffer. Boundaries are UTF-8 byte offsets into that buffer.
typedef struct HeedSegmenter HeedSegmenter;

/// Opens a word break iterator for `locale` ("" = root). On failure returns NULL and writes the
/// ICU error name into `error` (always NUL-terminated).
HeedSegmenter *heed_segmenter_open(const char *locale, char *error, size_t errorCapacity);
void heed_segmenter_close(HeedSegmenter *segmenter);

/// Opens a sentence break iterator (UBRK_SENTENCE) for `locale` ("" = root) with CLDR's
/// abbreviation suppressions (`ss=standard`: no break after "Mr." before "Smith"); root text uses
/// the English list, the largest, which only touches ASCII abbreviations. The same set_text/next/
/// close functions drive it; `status` from next is 0-99 for a sentence ended by a terminator
/// (. ? !) and 100-199 for one ended by a paragraph separator or the text's end. On failure
/// returns NULL and writes the ICU error name into `error`.
HeedSegmenter *heed_sentence_segmenter_open(const char *locale, char *error, size_t errorCapacity);

/// Points the segmenter at `text` (not copied: it must outlive the iteration). Returns 0 on success.
int heed_segmenter_set_text(HeedSegmenter *segmenter, const uint8_t *text, int64_t length);

/// Next boundary after the current one, or -1 at the end. `status` gets ICU's rule status
/// (0-99 none, 100-199 number, 200-299 letter, 300-399 kana, 400-499 ideographic).
int64_t heed_segmenter_next(HeedSegmenter *segmenter, int32_t *status);

/// 1 if the UTF-8 span contains an Extended_Pictographic code point (emoji), else 0.
int heed_contains_pictographic(const uint8_t *text, int64_t length);

/// 1 if the span has a decimal digit and no alphabetic code point (a "number" token), else 0.
int heed_is_numeric(const uint8_t *text, int64_t length);

/// 1 if every code point of the span is White_Space, else 0.
int heed_is_whitespace(const uint8_t *text, int64_t length);

/// Normalisation modes for heed_normalize.
enum { HEED_NORM_NONE = 0, HEED_NORM_NFKC = 1, HEED_NORM_NFKC_CASEFOLD = 2 };

/// Normalises a UTF-8 span into `out`. Returns the UTF-8 length of the result (which may exceed
/// `capacity`: call again with a larger buffer), or -1 on an ICU error.
int64_t heed_normalize(int mode, const uint8_t *text, int64_t length, uint8_t *out, int64_t capacity);

/// 1 if the bytes are well-formed UTF-8; otherwise 0 and `*badOffset` = first bad byte.
int heed_utf8_valid(const uint8_t *text, int64_t length, int64_t *badOffset);

/// ICU version string, e.g. "72.1".
const char *heed_icu_version(void);

#endif
