package api_test

import "github.com/transcept/transcept/shared/pipeline"

func pipelineUpload() pipeline.Upload {
	return pipeline.Upload{Name: "y.txt", Data: []byte("A placeholder lecture about entropy.")}
}
