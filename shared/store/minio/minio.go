// Package minio is a lecture.ObjectStore over an S3 server such as MinIO,
// using github.com/minio/minio-go/v7. S3 PUTs are atomic, so a failed or
// cancelled Put leaves no object (a failed multipart upload is aborted).
//
// Errors: a missing object or bucket is ENOTFOUND; a server that cannot be
// reached, refuses the credentials or fails with a 5xx is EUNAVAILABLE. The
// messages name the endpoint, never the secret key.
package minio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store"
)

// Config says where the S3 server is and how to sign in.
type Config struct {
	// Endpoint is host:port. An http:// or https:// prefix is accepted and
	// sets Secure accordingly.
	Endpoint  string
	AccessKey string
	SecretKey string
	Secure    bool   // HTTPS
	Region    string // "" for MinIO's default (us-east-1)
	// PublicURL is where clients outside the cluster reach the server
	// (http(s)://host[:port]); upload URLs are signed for it. "" signs
	// for Endpoint.
	PublicURL string

	// MaxRetries is how often a failed request is tried again; 0 means 2.
	MaxRetries int
	// DialTimeout bounds connecting to the server; 0 means 3 s.
	DialTimeout time.Duration
}

// PartSize is the part size of uploads of unknown length (and so the memory
// such an upload buffers): objects of unknown size can reach 10000 parts.
const PartSize = 16 << 20

// Store is an S3 object store. Use New.
type Store struct {
	c        *miniogo.Client
	signer   *miniogo.Client // signs upload URLs for PublicURL
	endpoint string
	region   string

	// MaxObjectSize, when > 0, is the largest object Put accepts; a larger
	// one fails with ETOOLARGE and leaves nothing behind. Set it before use.
	MaxObjectSize int64
}

var _ lecture.ObjectStore = (*Store)(nil)

// New connects to the server and creates the known buckets that are
// missing. A server that cannot be reached is EUNAVAILABLE.
func New(ctx context.Context, cfg Config) (*Store, error) {
	endpoint, secure := cfg.Endpoint, cfg.Secure
	if rest, ok := strings.CutPrefix(endpoint, "http://"); ok {
		endpoint, secure = rest, false
	} else if rest, ok := strings.CutPrefix(endpoint, "https://"); ok {
		endpoint, secure = rest, true
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if endpoint == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "object store endpoint is empty")
	}
	dial := cfg.DialTimeout
	if dial <= 0 {
		dial = 3 * time.Second
	}
	retries := cfg.MaxRetries
	if retries <= 0 {
		retries = 2
	}
	tr, err := miniogo.DefaultTransport(secure)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINTERNAL, err, "object store transport")
	}
	tr.DialContext = (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext
	c, err := miniogo.New(endpoint, &miniogo.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     secure,
		Region:     cfg.Region,
		Transport:  tr,
		MaxRetries: retries + 1, // minio-go counts the first try
	})
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "invalid object store endpoint %q", endpoint)
	}
	s := &Store{c: c, signer: c, endpoint: endpoint, region: cfg.Region}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, lecture.Errorf(lecture.EINVALID, "MINIO_PUBLIC_URL=%q: want http(s)://host[:port]", cfg.PublicURL)
		}
		region := cfg.Region
		if region == "" {
			region = "us-east-1" // signing is local: never ask the public endpoint for the bucket's region
		}
		if s.signer, err = miniogo.New(u.Host, &miniogo.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure: u.Scheme == "https", Region: region}); err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "MINIO_PUBLIC_URL=%q", cfg.PublicURL)
		}
	}
	if err := s.EnsureBuckets(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Client returns the minio-go client, e.g. to configure bucket notifications.
func (s *Store) Client() *miniogo.Client { return s.c }

// Endpoint returns the server's host:port.
func (s *Store) Endpoint() string { return s.endpoint }

// EnsureBuckets creates the known buckets that do not exist yet.
func (s *Store) EnsureBuckets(ctx context.Context) error {
	for _, b := range lecture.Buckets {
		ok, err := s.c.BucketExists(ctx, b)
		if err != nil {
			return s.mapErr(err, "check bucket", b, "")
		}
		if ok {
			continue
		}
		err = s.c.MakeBucket(ctx, b, miniogo.MakeBucketOptions{Region: s.region})
		if code := miniogo.ToErrorResponse(err).Code; err != nil && code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			return s.mapErr(err, "create bucket", b, "")
		}
	}
	return nil
}

func validate(bucket, key string) error {
	if err := lecture.ValidateBucket(bucket); err != nil {
		return err
	}
	return lecture.ValidateKey(key)
}

// Put uploads r as bucket/key. size is the content length, or -1 when
// unknown (then the upload goes in parts of PartSize). A reader that yields
// another length, fails or is cancelled leaves no object behind and an
// existing object untouched.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, bucket, key, r, size, contentType, false)
}

// PutIfAbsent is Put that creates bucket/key only where it does not exist
// yet (a conditional PUT with If-None-Match: *): an existing object is an
// ECONFLICT error and stays untouched, so of two writers exactly one wins.
func (s *Store) PutIfAbsent(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, bucket, key, r, size, contentType, true)
}

func (s *Store) put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string, exclusive bool) error {
	if err := validate(bucket, key); err != nil {
		return err
	}
	if s.MaxObjectSize > 0 && size > s.MaxObjectSize {
		return lecture.Errorf(lecture.ETOOLARGE, "object of %d bytes is larger than the limit of %d bytes", size, s.MaxObjectSize)
	}
	if err := ctx.Err(); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request cancelled")
	}
	opts := miniogo.PutObjectOptions{ContentType: store.ContentType(key, contentType)}
	if size < 0 {
		opts.PartSize = PartSize
	}
	if exclusive {
		opts.SetMatchETagExcept("*")
	}
	src := &errReader{r: store.CheckReader(ctx, r, size, s.MaxObjectSize)}
	_, err := s.c.PutObject(ctx, bucket, key, src, size, opts)
	if err != nil {
		// The content's own failure comes first: the request failing
		// with it is its consequence.
		var le *lecture.Error
		switch {
		case src.err != nil && errors.As(src.err, &le):
			return src.err
		case src.err != nil:
			return lecture.Wrap(lecture.EUNAVAILABLE, src.err, "reading the content of %s/%s failed", bucket, key)
		}
		return s.mapErr(err, "put", bucket, key)
	}
	return nil
}

// errReader remembers the error of its reader other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Get opens bucket/key for reading; a missing object is ENOTFOUND.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	if err := validate(bucket, key); err != nil {
		return nil, err
	}
	// One plain GET: the body is one version of the object even while it
	// is being overwritten (minio-go's Object would HEAD first and then
	// GET with If-Match, failing under a concurrent overwrite).
	body, _, _, err := miniogo.Core{Client: s.c}.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		return nil, s.mapErr(err, "get", bucket, key)
	}
	return &object{body: body, s: s, bucket: bucket, key: key}, nil
}

// object maps the errors of reading an object.
type object struct {
	body        io.ReadCloser
	s           *Store
	bucket, key string
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.body.Read(p)
	if err != nil && err != io.EOF {
		err = o.s.mapErr(err, "read", o.bucket, o.key)
	}
	return n, err
}

func (o *object) Close() error { return o.body.Close() }

// Stat describes bucket/key; a missing object is ENOTFOUND.
func (s *Store) Stat(ctx context.Context, bucket, key string) (lecture.ObjectInfo, error) {
	if err := validate(bucket, key); err != nil {
		return lecture.ObjectInfo{}, err
	}
	oi, err := s.c.StatObject(ctx, bucket, key, miniogo.StatObjectOptions{})
	if err != nil {
		return lecture.ObjectInfo{}, s.mapErr(err, "stat", bucket, key)
	}
	return info(oi), nil
}

func info(oi miniogo.ObjectInfo) lecture.ObjectInfo {
	return lecture.ObjectInfo{
		Key:         oi.Key,
		Size:        oi.Size,
		ContentType: oi.ContentType,
		ETag:        strings.Trim(oi.ETag, `"`),
		Modified:    oi.LastModified.UTC(),
	}
}

// List returns the objects of bucket whose key starts with prefix, sorted by
// key. Keys that break the key convention (put by other tools) are left out.
// S3 listings carry no content type, so ContentType is empty.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]lecture.ObjectInfo, error) {
	if err := lecture.ValidateBucket(bucket); err != nil {
		return nil, err
	}
	if err := lecture.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	out := []lecture.ObjectInfo{}
	for oi := range s.c.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, s.mapErr(oi.Err, "list", bucket, prefix)
		}
		if lecture.ValidateKey(oi.Key) != nil {
			continue
		}
		out = append(out, info(oi))
	}
	if err := ctx.Err(); err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request cancelled")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes bucket/key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := validate(bucket, key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, bucket, key, miniogo.RemoveObjectOptions{}); err != nil {
		if miniogo.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return s.mapErr(err, "delete", bucket, key)
	}
	return nil
}

// mapErr turns a minio-go error into a *lecture.Error naming the endpoint.
func (s *Store) mapErr(err error, op, bucket, key string) error {
	var le *lecture.Error
	if errors.As(err, &le) {
		return err
	}
	what := bucket
	if key != "" {
		what += "/" + key
	}
	resp := miniogo.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return lecture.Wrap(lecture.ENOTFOUND, err, "object %s not found", what)
	case "PreconditionFailed":
		return lecture.Wrap(lecture.ECONFLICT, err, "object %s already exists", what)
	case "EntityTooLarge":
		return lecture.Wrap(lecture.ETOOLARGE, err, "object %s too large", what)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store at %s refused the credentials (%s %s)", s.endpoint, op, what)
	}
	if resp.StatusCode == http.StatusNotFound {
		return lecture.Wrap(lecture.ENOTFOUND, err, "object %s not found", what)
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request to %s cancelled (%s %s)", s.endpoint, op, what)
	case errors.As(err, &nerr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		resp.StatusCode >= 500, resp.Code == "SlowDown", resp.Code == "XMinioServerNotInitialized":
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store at %s unavailable (%s %s)", s.endpoint, op, what)
	}
	var oerr *net.OpError
	if errors.As(err, &oerr) || strings.Contains(err.Error(), "connection refused") {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store at %s unavailable (%s %s)", s.endpoint, op, what)
	}
	return lecture.Wrap(lecture.EINTERNAL, err, "object store at %s: %s %s failed", s.endpoint, op, what)
}

// PresignPut signs a PUT of bucket/key valid for ttl that MinIO accepts
// only with exactly this Content-Type and Content-Length: the headers the
// client must send are returned with the URL. The signature is made here,
// with this process's credentials (which need s3:PutObject on the bucket).
func (s *Store) PresignPut(ctx context.Context, bucket, key, contentType string, size int64, ttl time.Duration) (string, http.Header, error) {
	if err := validate(bucket, key); err != nil {
		return "", nil, err
	}
	if ttl < time.Second || ttl > 7*24*time.Hour {
		return "", nil, lecture.Errorf(lecture.EINVALID, "an upload URL lives from 1s to 7 days, not %s", ttl)
	}
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	u, err := s.signer.PresignHeader(ctx, http.MethodPut, bucket, key, ttl, nil, h)
	if err != nil {
		return "", nil, s.mapErr(err, "presign", bucket, key)
	}
	return u.String(), h, nil
}
