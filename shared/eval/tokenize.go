package eval

import "unicode/utf8"

// scanTokens splits text the way rouge_score's default tokenizer does:
// Python's str.lower(), then every run of characters outside [a-z0-9]
// becomes a separator. Each raw (unstemmed, lowercase) token is passed to
// emit in a scratch buffer that emit may modify; newline is called for every
// '\n' (after the token before it has been emitted). buf is scratch space
// and is returned for reuse.
//
// Python's str.lower maps exactly two non-ASCII code points onto [a-z0-9]:
// U+212A KELVIN SIGN becomes "k", and U+0130 LATIN CAPITAL LETTER I WITH DOT
// ABOVE becomes "i" followed by U+0307 COMBINING DOT ABOVE (a separator).
// Every other non-ASCII character lowercases to something outside [a-z0-9],
// so it is a separator.
func scanTokens(text string, buf []byte, emit func([]byte), newline func()) []byte {
	buf = buf[:0]
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				buf = append(buf, c)
			case 'A' <= c && c <= 'Z':
				buf = append(buf, c+('a'-'A'))
			default:
				if len(buf) > 0 {
					emit(buf)
					buf = buf[:0]
				}
				if c == '\n' && newline != nil {
					newline()
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch r {
		case '\u212a':
			buf = append(buf, 'k')
		case '\u0130':
			buf = append(buf, 'i')
			emit(buf)
			buf = buf[:0]
		default:
			if len(buf) > 0 {
				emit(buf)
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		emit(buf)
		buf = buf[:0]
	}
	return buf
}

// Tokenize returns rouge_score's tokens for text with use_stemmer=True:
// lowercase, split on anything outside [a-z0-9], and stem tokens longer than
// three characters with NLTK's Porter stemmer (see Stem).
func Tokenize(text string) []string {
	var out []string
	scanTokens(text, nil, func(tok []byte) {
		if len(tok) > 3 {
			tok = stemToken(tok)
		}
		out = append(out, string(tok))
	}, nil)
	return out
}
