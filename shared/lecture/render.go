package lecture

import "strings"

// Markdown renders the summary as "- " bullets, each with its [mm:ss] label
// when the lecture had timestamps.
func (s *Summary) Markdown() string {
	var b strings.Builder
	for _, x := range s.Bullets {
		b.WriteString("- ")
		if l := x.Span.Label(); l != "" {
			b.WriteString(l + " ")
		}
		b.WriteString(x.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Text renders the summary as plain lines, one bullet a line.
func (s *Summary) Text() string {
	var b strings.Builder
	for _, x := range s.Bullets {
		if l := x.Span.Label(); l != "" {
			b.WriteString(l + " ")
		}
		b.WriteString(x.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Plain joins the bullets' text with spaces, the `summary` string of the API.
func (s *Summary) Plain() string {
	parts := make([]string, len(s.Bullets))
	for i, x := range s.Bullets {
		parts[i] = x.Text
	}
	return strings.Join(parts, " ")
}

// Markdown renders the answer with its citations as a list of quotes.
func (a *Answer) Markdown() string {
	var b strings.Builder
	b.WriteString(a.Text)
	b.WriteByte('\n')
	if len(a.Citations) > 0 {
		b.WriteString("\nSources:\n")
		for _, c := range a.Citations {
			b.WriteString("- ")
			if l := c.Span.Label(); l != "" {
				b.WriteString(l + " ")
			}
			b.WriteString("\"" + c.Quote + "\"\n")
		}
	}
	return b.String()
}
