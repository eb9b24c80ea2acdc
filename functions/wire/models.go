package wire

import (
	"context"
	"errors"
	"log/slog"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry"
)

// ResolvedModels maps a model setting (TRANSCEPT_SUMMARY_MODEL, ...) to the
// registry version it named at start.
type ResolvedModels map[string]registry.Version

// Label is the model identity to report for setting: "name@version" when
// it came from the registry, else fallback.
func (r ResolvedModels) Label(setting, fallback string) string {
	if v, ok := r[setting]; ok {
		return v.String()
	}
	return fallback
}

// ResolveModels turns the model settings of the form registry://NAME@ALIAS
// (or @VERSION) into local folders, once, at start: each names the version
// it points at now, fetched into TRANSCEPT_MODEL_CACHE_DIR and verified
// file by file (sha256), so a process runs one immutable version until it
// restarts. It returns a copy of c with those settings replaced by the
// folders; plain folders and unused settings are left as they are. Every
// error names the setting.
func ResolveModels(ctx context.Context, c *config.Config, st lecture.ObjectStore, log *slog.Logger) (*config.Config, ResolvedModels, error) {
	out := *c
	resolved := ResolvedModels{}
	settings := []struct {
		name string
		v    *string
		used bool
	}{
		{"TRANSCEPT_SUMMARY_MODEL", &out.SummaryModel, out.Summarizer == "bart"},
		{"TRANSCEPT_WHISPER_MODEL", &out.WhisperModel, true},
		{"TRANSCEPT_EMBED_MODEL", &out.EmbedModel, true},
		{"TRANSCEPT_QA_MODEL", &out.QAModel, true},
	}
	var reg *registry.Registry
	for _, s := range settings {
		ref, err := registry.SplitSetting(*s.v)
		if errors.Is(err, registry.ErrNotRegistry) || !s.used {
			continue
		}
		if err != nil {
			return nil, nil, lecture.Wrap(lecture.EINVALID, err, "%s=%s: %s", s.name, *s.v, lecture.ErrorMessage(err))
		}
		if reg == nil {
			reg = registry.New(st)
		}
		v, err := reg.Resolve(ctx, ref)
		if err != nil {
			return nil, nil, lecture.Wrap(lecture.ErrorCode(err), err, "%s=%s: %s", s.name, *s.v, lecture.ErrorMessage(err))
		}
		cacheDir := out.ModelCacheDir
		if cacheDir == "" {
			cacheDir = "./models/.registry" // the setting's default, for a Config built by hand
		}
		dir, err := reg.Fetch(ctx, v, cacheDir)
		if err != nil {
			return nil, nil, lecture.Wrap(lecture.ErrorCode(err), err, "%s=%s (%s): %s", s.name, *s.v, v, lecture.ErrorMessage(err))
		}
		if log != nil {
			log.Info("model resolved from the registry", "setting", s.name, "ref", ref, "version", v.String(), "folder", dir)
		}
		resolved[s.name] = v
		*s.v = dir
	}
	return &out, resolved, nil
}
