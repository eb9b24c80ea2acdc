package whisper

import (
	"testing"
)

// TestPlanChunks: chunks are at most 30 s, end to end over the speech-only
// audio, as few as possible, cut at the longest silences; a region longer
// than 30 s is cut where the speech probability is lowest in the second
// half of its 30 s; no regions, no chunks.
func TestPlanChunks(t *testing.T) {
	s := func(sec float64) int { return int(sec * SampleRate) }
	check := func(t *testing.T, regions []SpeechSegment, chunks []Chunk) {
		t.Helper()
		total := 0
		for _, r := range regions {
			total += r.End - r.Start
		}
		pos := 0
		for i, c := range chunks {
			if c.Start != pos || c.End <= c.Start || c.End-c.Start > ChunkSamples {
				t.Errorf("chunk %d: %+v after %d (max %d samples)", i, c, pos, ChunkSamples)
			}
			pos = c.End
		}
		if pos != total {
			t.Errorf("chunks end at %d, the speech is %d samples", pos, total)
		}
	}
	if c := PlanChunks(nil, nil); c == nil || len(c) != 0 {
		t.Errorf("no regions: %v", c)
	}

	// 12 + 12 + 12 s regions: two chunks; the cut is at the longer
	// silence (8 s between the 2nd and 3rd, 2 s between 1st and 2nd)
	regions := []SpeechSegment{{s(0), s(12)}, {s(14), s(26)}, {s(34), s(46)}}
	chunks := PlanChunks(regions, nil)
	check(t, regions, chunks)
	if len(chunks) != 2 || chunks[0].End != s(24) {
		t.Errorf("three 12 s regions: %v, want a cut after 24 s of speech", chunks)
	}
	// the same with the long silence first: the cut moves
	regions = []SpeechSegment{{s(0), s(12)}, {s(20), s(32)}, {s(34), s(46)}}
	chunks = PlanChunks(regions, nil)
	check(t, regions, chunks)
	if len(chunks) != 2 || chunks[0].End != s(12) {
		t.Errorf("long silence first: %v, want a cut after 12 s", chunks)
	}
	// 20 + 10 | 20 + 9 s: exactly full chunks, cut at the 9 s silence
	regions = []SpeechSegment{{s(0), s(20)}, {s(21), s(31)}, {s(40), s(60)}, {s(61), s(70)}}
	chunks = PlanChunks(regions, nil)
	check(t, regions, chunks)
	if len(chunks) != 2 || chunks[0].End != s(30) {
		t.Errorf("20+10+20+9 s: %v, want 2 chunks cut after 30 s", chunks)
	}
	// a 70 s region: cut at the lowest probability in [15, 30) s, then
	// again in the next 30 s
	n := s(70)
	probs := make([]float32, n/VADFrame+1)
	for i := range probs {
		probs[i] = 0.9
	}
	low1, low2 := s(22)/VADFrame, s(22+25)/VADFrame
	probs[low1], probs[low2] = 0.1, 0.2
	probs[s(10)/VADFrame] = 0.01 // in the first half: not a cut
	regions = []SpeechSegment{{0, n}}
	chunks = PlanChunks(regions, probs)
	check(t, regions, chunks)
	if len(chunks) != 3 || chunks[0].End != low1*VADFrame || chunks[1].End != low2*VADFrame {
		t.Errorf("70 s region: %v, want cuts at frames %d and %d", chunks, low1, low2)
	}
	// without probabilities: every 30 s
	chunks = PlanChunks(regions, nil)
	check(t, regions, chunks)
	if len(chunks) != 3 || chunks[0].End != ChunkSamples || chunks[1].End != 2*ChunkSamples {
		t.Errorf("70 s region without probabilities: %v", chunks)
	}
}
