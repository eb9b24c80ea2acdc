package eval

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Clip is a recording with its reference transcript.
type Clip struct {
	Set, Name, Path, Reference string
}

// LibriVoxDir is where Debian's pocketsphinx-testdata puts its LibriVox clips.
const LibriVoxDir = "/usr/share/pocketsphinx/test/data/librivox"

// SpeechClips lists the evaluation recordings: ../shared/data/audio (jfk,
// FLEURS: NAME.{flac,ogg} beside NAME.txt) and, when installed, the
// LibriVox clips of pocketsphinx-testdata.
func SpeechClips(dataDir string) ([]Clip, error) {
	var clips []Clip
	audio := filepath.Join(dataDir, "audio")
	entries, err := os.ReadDir(audio)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".flac" && ext != ".ogg" && ext != ".wav" {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ext)
		ref, err := os.ReadFile(filepath.Join(audio, base+".txt"))
		if err != nil {
			continue
		}
		set := "shared/audio"
		if strings.HasPrefix(base, "fleurs") {
			set = "FLEURS"
		}
		clips = append(clips, Clip{Set: set, Name: base, Path: filepath.Join(audio, e.Name()), Reference: strings.TrimSpace(string(ref))})
	}
	if f, err := os.Open(filepath.Join(LibriVoxDir, "transcription")); err == nil {
		defer f.Close()
		re := regexp.MustCompile(`^<s> (.*) </s> \((.*)\)$`)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := re.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				clips = append(clips, Clip{Set: "LibriVox", Name: m[2], Path: filepath.Join(LibriVoxDir, m[2]+".wav"), Reference: m[1]})
			}
		}
	}
	sort.Slice(clips, func(i, j int) bool { return clips[i].Set+clips[i].Name < clips[j].Set+clips[j].Name })
	return clips, nil
}

// WERRow is one set's word error rate.
type WERRow struct {
	Set    string
	Clips  int
	Result WERResult
}

// TranscriptionWER transcribes every clip and scores each set (and all
// together) with CorpusWER.
func TranscriptionWER(ctx context.Context, tr lecture.Transcriber, clips []Clip, language string) ([]WERRow, error) {
	refs, hyps := map[string][]string{}, map[string][]string{}
	var sets []string
	for _, c := range clips {
		t, err := tr.Transcribe(ctx, c.Path, lecture.TranscribeOptions{Language: language}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		if _, ok := refs[c.Set]; !ok {
			sets = append(sets, c.Set)
		}
		refs[c.Set] = append(refs[c.Set], c.Reference)
		hyps[c.Set] = append(hyps[c.Set], t.Text())
	}
	var rows []WERRow
	var allR, allH []string
	for _, s := range sets {
		rows = append(rows, WERRow{Set: s, Clips: len(refs[s]), Result: CorpusWER(refs[s], hyps[s])})
		allR, allH = append(allR, refs[s]...), append(allH, hyps[s]...)
	}
	rows = append(rows, WERRow{Set: "all", Clips: len(allR), Result: CorpusWER(allR, allH)})
	return rows, nil
}
