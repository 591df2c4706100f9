package engine

// CheckpointTensorCap is what checkpointCap allows the tensors of a checkpoint of j, slack
// left out.
func CheckpointTensorCap(j *Job) int64 { return checkpointCap(j).bin - checkpointBinSlack }

// MaxSamplerState is the most bytes of timestep sampler state that resume reads.
const MaxSamplerState = maxSamplerState

// SampleSeedOffset is the second seed word of the stream x_T is drawn from.
const SampleSeedOffset = sampleSeedOffset
