#include "heed_icu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/utext.h>
#include <unicode/uchar.h>
#include <unicode/uloc.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include <unicode/uversion.h>

struct HeedSegmenter {
    UBreakIterator *iterator;
    UText *text;
};

static void copy_error(UErrorCode code, char *error, size_t capacity) {
    if (error == NULL || capacity == 0) return;
    strncpy(error, u_errorName(code), capacity - 1);
    error[capacity - 1] = 0;
}

HeedSegmenter *heed_segmenter_open(const char *locale, char *error, size_t errorCapacity) {
    UErrorCode status = U_ZERO_ERROR;
    UBreakIterator *iterator = ubrk_open(UBRK_WORD, locale, NULL, 0, &status);
    if (U_FAILURE(status)) { copy_error(status, error, errorCapacity); return NULL; }
    HeedSegmenter *segmenter = calloc(1, sizeof(HeedSegmenter));
    if (segmenter == NULL) { ubrk_close(iterator); copy_error(U_MEMORY_ALLOCATION_ERROR, error, errorCapacity); return NULL; }
    segmenter->iterator = iterator;
    return segmenter;
}

HeedSegmenter *heed_sentence_segmenter_open(const char *locale, char *error, size_t errorCapacity) {
    /* CLDR's suppression lists are per language; root has none, so root reads the English one. */
    char name[ULOC_FULLNAME_CAPACITY + 32];
    const char *base = (locale == NULL || locale[0] == 0) ? "en" : locale;
    snprintf(name, sizeof name, "%s%sss=standard", base, strchr(base, '@') ? ";" : "@");
    UErrorCode status = U_ZERO_ERROR;
    UBreakIterator *iterator = ubrk_open(UBRK_SENTENCE, name, NULL, 0, &status);
    if (U_FAILURE(status)) { copy_error(status, error, errorCapacity); return NULL; }
    HeedSegmenter *segmenter = calloc(1, sizeof(HeedSegmenter));
    if (segmenter == NULL) { ubrk_close(iterator); copy_error(U_MEMORY_ALLOCATION_ERROR, error, errorCapacity); return NULL; }
    segmenter->iterator = iterator;
    return segmenter;
}

void heed_segmenter_close(HeedSegmenter *segmenter) {
    if (segmenter == NULL) return;
    ubrk_close(segmenter->iterator);
    if (segmenter->text) utext_close(segmenter->text);
    free(segmenter);
}

int heed_segmenter_set_text(HeedSegmenter *segmenter, const uint8_t *text, int64_t length) {
    static const char empty[1] = {0};
    UErrorCode status = U_ZERO_ERROR;
    /* Reusing the UText avoids an allocation per document. */
    segmenter->text = utext_openUTF8(segmenter->text, length > 0 ? (const char *)text : empty, length, &status);
    if (U_FAILURE(status)) return -1;
    ubrk_setUText(segmenter->iterator, segmenter->text, &status);
    if (U_FAILURE(status)) return -1;
    ubrk_first(segmenter->iterator);
    return 0;
}

int64_t heed_segmenter_next(HeedSegmenter *segmenter, int32_t *status) {
    int32_t boundary = ubrk_next(segmenter->iterator);
    if (boundary == UBRK_DONE) return -1;
    if (status) *status = ubrk_getRuleStatus(segmenter->iterator);
    return boundary;
}

int heed_contains_pictographic(const uint8_t *text, int64_t length) {
    int64_t i = 0;
    while (i < length) {
        UChar32 c;
        U8_NEXT(text, i, length, c);
        if (c >= 0 && u_hasBinaryProperty(c, UCHAR_EXTENDED_PICTOGRAPHIC)) return 1;
    }
    return 0;
}

int heed_is_numeric(const uint8_t *text, int64_t length) {
    int64_t i = 0;
    int digit = 0;
    while (i < length) {
        UChar32 c;
        U8_NEXT(text, i, length, c);
        if (c < 0) continue;
        if (u_isUAlphabetic(c)) return 0;
        if (u_charType(c) == U_DECIMAL_DIGIT_NUMBER) digit = 1;
    }
    return digit;
}

int heed_is_whitespace(const uint8_t *text, int64_t length) {
    int64_t i = 0;
    while (i < length) {
        UChar32 c;
        U8_NEXT(text, i, length, c);
        if (c < 0 || !u_isUWhiteSpace(c)) return 0;
    }
    return 1;
}

int64_t heed_normalize(int mode, const uint8_t *text, int64_t length, uint8_t *out, int64_t capacity) {
    if (mode == HEED_NORM_NONE || length == 0) {
        if (length <= capacity) memcpy(out, text, (size_t)length);
        return length;
    }
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *normalizer = mode == HEED_NORM_NFKC
        ? unorm2_getNFKCInstance(&status) : unorm2_getNFKCCasefoldInstance(&status);
    if (U_FAILURE(status) || length > INT32_MAX / 4) return -1;
    /* UTF-8 -> UTF-16 (invalid bytes become U+FFFD), normalise, back to UTF-8. */
    UChar stackSource[256], stackTarget[512];
    UChar *source = stackSource, *target = stackTarget;
    int32_t sourceLength = 0;
    u_strFromUTF8WithSub(source, 256, &sourceLength, (const char *)text, (int32_t)length, 0xFFFD, NULL, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
        status = U_ZERO_ERROR;
        source = malloc(sizeof(UChar) * (size_t)(sourceLength + 1));
        if (!source) return -1;
        u_strFromUTF8WithSub(source, sourceLength + 1, &sourceLength, (const char *)text, (int32_t)length, 0xFFFD, NULL, &status);
    }
    int64_t result = -1;
    if (U_SUCCESS(status)) {
        int32_t targetLength = unorm2_normalize(normalizer, source, sourceLength, target, 512, &status);
        if (status == U_BUFFER_OVERFLOW_ERROR) {
            status = U_ZERO_ERROR;
            target = malloc(sizeof(UChar) * (size_t)(targetLength + 1));
            if (target) targetLength = unorm2_normalize(normalizer, source, sourceLength, target, targetLength + 1, &status);
            else status = U_MEMORY_ALLOCATION_ERROR;
        }
        if (U_SUCCESS(status)) {
            int32_t outLength = 0;
            UErrorCode convert = U_ZERO_ERROR;
            int32_t cap = capacity > INT32_MAX ? INT32_MAX : (int32_t)capacity;
            u_strToUTF8((char *)out, cap, &outLength, target, targetLength, &convert);
            if (U_SUCCESS(convert) || convert == U_BUFFER_OVERFLOW_ERROR || convert == U_STRING_NOT_TERMINATED_WARNING)
                result = outLength;
        }
    }
    if (source != stackSource) free(source);
    if (target != stackTarget && target != NULL) free(target);
    return result;
}

int heed_utf8_valid(const uint8_t *text, int64_t length, int64_t *badOffset) {
    int64_t i = 0;
    while (i < length) {
        if (text[i] < 0x80) { i++; continue; }
        int64_t start = i;
        UChar32 c;
        U8_NEXT(text, i, length, c);
        if (c < 0) { if (badOffset) *badOffset = start; return 0; }
    }
    return 1;
}

const char *heed_icu_version(void) {
    static char buffer[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo info;
    u_getVersion(info);
    u_versionToString(info, buffer);
    return buffer;
}
