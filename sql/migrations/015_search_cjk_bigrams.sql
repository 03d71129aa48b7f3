-- Search finds words inside Chinese, Japanese and Korean text. These scripts are written
-- without spaces between words (Korean joins particles and compounds to them), so 'Osaka map'
-- in four kanji was one word: q=Osaka found it as a prefix, q=map did not. Without a
-- dictionary, search engines index such text as overlapping bigrams (Lucene's
-- CJKBigramFilter, Elasticsearch's cjk analyzer), and so does this: every run of Han, kana and
-- Hangul (app.cjk_letter) is set apart from the letters and digits touching it
-- (app.search_split: 'Tokyo' in kanji followed by 'Tokyo' in Latin letters is two words), then
-- each of its characters is written twice (app.search_words), the run ABCD becoming
--     A AB BC CD D
-- i.e. its bigrams, plus its first and last characters alone (a one-character run stays one
-- word), so that a one-character query finds any character of a run as a word's prefix.
-- app.tsquery_of turns a CJK query word into the AND of its bigrams (exact), a one-character
-- one into a prefix, and every other word into a prefix as before: BC and ABCD find ABCD, DA
-- does not. Text without CJK comes out unchanged (two regex scans that match nothing).
-- Like app.search_text (013), these functions are part of the schema: change them only in a
-- migration that recomputes app.maps.search. The file is ASCII: the ranges are \u escapes.
CREATE FUNCTION app.cjk_letter() RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- STRICT (it has no argument) lets the functions using it be inlined: a non-strict call
    -- in a strict SQL function's body keeps the planner from inlining it, a call per row.
    -- Hangul Jamo; CJK and Kangxi radicals; the ideographic iteration and closing marks and
    -- number zero, Hangzhou numerals, kana repeat marks; Hiragana (with its combining voicing
    -- marks); Katakana; Hangul compatibility Jamo; Katakana extensions; CJK ideographs
    -- (extension A, unified, compatibility); Hangul Jamo extensions and syllables; half-width
    -- Katakana and Hangul; the kana supplement; ideograph extensions B onwards (planes 2, 3).
    -- Punctuation in these blocks (U+3000-3004, U+3008-3020, U+30FB, ...) is already a space
    -- (app.search_text).
    SELECT '[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c'
           '\u3041-\u309f\u30a0-\u30ff\u3131-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff'
           '\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc\U0001b000-\U0001b16f'
           '\U00020000-\U0003ffff]'::text
$$;
COMMENT ON FUNCTION app.cjk_letter() IS 'A regex bracket expression matching one Han, kana or Hangul character (the scripts search cuts into bigrams).';

CREATE FUNCTION app.search_split(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- Spaces around each CJK run, so that the parser (which takes every non-ASCII character
    -- for a letter in the C locale) never glues it to Latin letters or digits.
    SELECT regexp_replace(app.search_text(t), app.cjk_letter() || '+', ' \& ', 'g')
$$;
COMMENT ON FUNCTION app.search_split(text) IS 'app.search_text with every run of CJK characters set apart as its own word, for q.';

CREATE FUNCTION app.search_words(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- AB -> A AB B: each character written twice makes every adjacent pair a word. One
    -- scan with no lookaround (a lookbehind to skip the first character alone cost more).
    SELECT regexp_replace(app.search_split(t), app.cjk_letter(), '\& \&', 'g')
$$;
COMMENT ON FUNCTION app.search_words(text) IS 'The search column''s text: app.search_split with each CJK run written as its overlapping bigrams and its first and last characters.';

-- As in 013, the generated column is dropped and added again (one rewrite; maps_search too).
ALTER TABLE app.maps DROP COLUMN search;
ALTER TABLE app.maps ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', app.search_words(title || ' ' || description || ' ' || filename))
) STORED;
CREATE INDEX maps_search ON app.maps USING gin (search);
