# The forced AVX2 path of the trainer's GEMMs: the attention kernels (blockwise
# vs the naive reference, forward and backward) and the model's gradients against
# PyTorch again, in processes where LWM_SIMD=avx2 caps lwm_sgemm (oneDNN) at AVX2.
SUITE=train/avx2
. tests/lib.sh
rerun_under LWM_SIMD=avx2 avx2 train test_attention test_model
