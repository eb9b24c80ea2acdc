package wire

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/catalogue/postgres"
	"github.com/transcept/transcept/shared/catalogue/sqlite"
	"github.com/transcept/transcept/shared/lecture"
)

// OpenCatalogue opens the catalogue that TRANSCEPT_DATABASE_URL names:
// "postgres://…" or "postgresql://…" is PostgreSQL; "sqlite:PATH" or a
// plain path is an SQLite file; "" is the SQLite file catalogue.db in
// storeDir (TRANSCEPT_STORE_DIR). Migrations are applied on opening.
func OpenCatalogue(ctx context.Context, databaseURL, storeDir string) (catalogue.Catalogue, error) {
	u := strings.TrimSpace(databaseURL)
	switch {
	case u == "":
		if storeDir == "" {
			return nil, lecture.Errorf(lecture.EINVALID, "catalogue: TRANSCEPT_DATABASE_URL is empty and there is no TRANSCEPT_STORE_DIR to keep catalogue.db in; set one of them")
		}
		return openSQLite(ctx, filepath.Join(storeDir, "catalogue.db"))
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		db, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, lecture.Wrap(lecture.ErrorCode(err), err, "catalogue: opening the PostgreSQL database of TRANSCEPT_DATABASE_URL")
		}
		return db, nil
	case strings.HasPrefix(u, "sqlite:"):
		path := strings.TrimPrefix(u, "sqlite:")
		if strings.HasPrefix(path, "//") { // sqlite:///abs/path, sqlite://rel/path
			path = path[2:]
		}
		if path == "" {
			return nil, lecture.Errorf(lecture.EINVALID, "catalogue: TRANSCEPT_DATABASE_URL %q names no SQLite file (want sqlite:PATH)", u)
		}
		return openSQLite(ctx, path)
	case strings.Contains(u, "://"):
		scheme, _, _ := strings.Cut(u, "://")
		return nil, lecture.Errorf(lecture.EINVALID, "catalogue: TRANSCEPT_DATABASE_URL has the unsupported scheme %q; want postgres://, postgresql://, sqlite:PATH or a file path", scheme)
	default:
		return openSQLite(ctx, u)
	}
}

func openSQLite(ctx context.Context, path string) (catalogue.Catalogue, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, lecture.Wrap(lecture.ErrorCode(err), err, "catalogue: opening the SQLite file %s (TRANSCEPT_DATABASE_URL)", path)
	}
	return db, nil
}
