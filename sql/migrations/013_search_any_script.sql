-- Search finds words in any script (accented Latin, Cyrillic, CJK, ...), whatever the locale.
-- The search column split only the filename, on [^[:alnum:]]: in the C locale only ASCII is
-- alnum there, so a filename's accented words were cut into pieces ('z', 'rich' for Zurich with
-- an umlaut). And text search's parser takes every non-ASCII character for a letter when the
-- locale's ctype is C (ours is, even with the builtin C.UTF-8 provider, which sets only case
-- folding), gluing a word to the guillemets around it, or two CJK words to the ideographic
-- comma between them. So title, description and filename now all pass app.search_text first:
-- it turns separators into spaces by an explicit list that means the same in every locale
-- (ASCII punctuation; the punctuation and spaces of Latin-1, General Punctuation, CJK and
-- full-width forms; a few script-specific stops). Letters, digits and combining marks of every
-- script stay (a mark splits no word). q goes through the same function and parser
-- (app.tsquery_of), so query and index agree. The file is ASCII: the list is \u escapes.
-- Like app.map_cell (005), the function is part of the schema: change it only in a migration
-- that recomputes app.maps.search (a changed function leaves stored vectors stale).
CREATE FUNCTION app.search_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT regexp_replace(t,
        '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00a9\u00ab-\u00b1\u00b4\u00b6-\u00b8'
        '\u00bb\u00bf\u00d7\u00f7\u037e\u0387\u055a-\u055f\u0589\u05be\u05c3\u060c\u061b'
        '\u061f\u066a-\u066d\u06d4\u0964\u0965\u0e5a\u0e5b\u1680\u2000-\u200b\u200e-\u205f'
        '\u2e00-\u2e7f\u3000-\u3004\u3008-\u3020\u3030\u303d\u303f\u30fb\ufe10-\ufe19'
        '\ufe30-\ufe6b\ufeff\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+',
        ' ', 'g')
$$;
COMMENT ON FUNCTION app.search_text(text) IS 'Text with every separator (ASCII, Latin-1, General/CJK/full-width punctuation and spaces) turned into a space, for the search column and q alike.';

-- A generated column's expression cannot change in place before PostgreSQL 17: the column is
-- dropped and added again (the table is rewritten once; maps_search with it).
ALTER TABLE app.maps DROP COLUMN search;
ALTER TABLE app.maps ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', app.search_text(title || ' ' || description || ' ' || filename))
) STORED;
CREATE INDEX maps_search ON app.maps USING gin (search);
