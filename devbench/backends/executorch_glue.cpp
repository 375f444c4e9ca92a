// devbench's glue to ExecuTorch's runtime: a C ABI over its C++ Module, which the board runner loads
// with ctypes. ExecuTorch's Python runtime links libtorch; its C++ libraries (libexecutorch*.so in
// the wheel's lib/ folder) do not, so with this a board runs .pte programs with no torch installed.
// Built by the host for the target's CPU (its cross compiler) beside each program; the symbols it
// uses are resolved on the board from the libraries the runner loads first (RTLD_GLOBAL).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

// The wheel ships no header for its thread pool; these are the two members devbench calls.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {
using executorch::extension::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

struct Program {
  std::unique_ptr<Module> module;
  std::vector<executorch::aten::SizesType> input_shape;
  std::vector<int64_t> output_shape;  // from the program's metadata
  std::vector<EValue> outputs;  // the last run's, kept so that their memory stays valid
};

void say(char* err, int len, const std::string& what) {
  if (err != nullptr && len > 0) {
    std::strncpy(err, what.c_str(), len - 1);
    err[len - 1] = 0;
  }
}
}  // namespace

extern "C" {

// Resizes ExecuTorch's thread pool (XNNPACK runs on it) when threads > 0; returns its size.
int devbench_et_threads(uint32_t threads) {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr) return -1;
  if (threads > 0) pool->_unsafe_reset_threadpool(threads);
  return static_cast<int>(pool->get_thread_count());
}

// Loads the program's "forward" method for float32 inputs of the given shape; nullptr and `err` on failure.
void* devbench_et_load(const char* path, const int64_t* shape, int ndim, char* err, int errlen) {
  auto program = std::make_unique<Program>();
  program->module = std::make_unique<Module>(path, Module::LoadMode::File);
  Error e = program->module->load_method("forward");
  if (e != Error::Ok) {
    say(err, errlen, std::string("ExecuTorch could not load the program's forward method: ") +
                         executorch::runtime::to_string(e));
    return nullptr;
  }
  auto meta = program->module->method_meta("forward");
  auto output = meta.ok() ? meta->output_tensor_meta(0) : executorch::runtime::Result<executorch::runtime::TensorInfo>(meta.error());
  if (!output.ok()) {
    say(err, errlen, "the program's first output is not a tensor");
    return nullptr;
  }
  for (auto size : output->sizes()) program->output_shape.push_back(size);
  program->input_shape.assign(shape, shape + ndim);
  return program.release();
}

// Runs forward on `input` (float32, the loaded shape) and copies up to `out_len` floats of its first
// output into `out`; returns that output's element count, or -1 and `err`.
int64_t devbench_et_run(void* handle, float* input, float* out, int64_t out_len, char* err, int errlen) {
  auto* program = static_cast<Program*>(handle);
  auto tensor = executorch::extension::from_blob(input, program->input_shape);
  auto result = program->module->forward(tensor);
  if (!result.ok()) {
    say(err, errlen, std::string("ExecuTorch's forward failed: ") + executorch::runtime::to_string(result.error()));
    return -1;
  }
  program->outputs = std::move(result.get());
  if (program->outputs.empty() || !program->outputs[0].isTensor()) {
    say(err, errlen, "the program's first output is not a tensor");
    return -1;
  }
  const auto& output = program->outputs[0].toTensor();
  const int64_t n = output.numel();
  std::memcpy(out, output.const_data_ptr<float>(), sizeof(float) * static_cast<size_t>(std::min(n, out_len)));
  return n;
}

// The first output's shape, from the program: writes up to `max_dims` sizes into `dims`, returns its rank.
int devbench_et_output_shape(void* handle, int64_t* dims, int max_dims) {
  const auto& shape = static_cast<Program*>(handle)->output_shape;
  std::copy_n(shape.begin(), std::min<size_t>(shape.size(), std::max(max_dims, 0)), dims);
  return static_cast<int>(shape.size());
}
}
