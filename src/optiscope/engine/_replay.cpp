// Replays a recorded list of ATen operator calls (see _replay.py) from C++.
//
// A training step is a few dozen small torch calls; from Python each costs about 0.7 us
// more than the same call from C++ (argument parsing, the Python binding), which is most of
// a step at a few configs. _replay.py records which ATen operators a step calls, with which
// arguments, and this file calls the same operators with the same arguments through
// torch's dispatcher: the same kernels on the same memory, so the same numbers.
//
// A program holds:
// - external tensors: views (sizes, strides, storage offset) of memory owned by Python
//   tensors that outlive the program; an external may belong to a "root" (a batch's slice
//   of the data set), whose storage offset is moved by a delta at each run, so one program
//   serves every batch of one shape;
// - operator calls: the operator and its whole argument list, each argument a constant, an
//   external tensor or the result of an earlier call of the same run (a "slot").
//
// The C interface is called through ctypes. Functions return 0 on success; on an error,
// -1, with the message in rp_error().

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace {

thread_local std::string last_error;

enum Kind : int64_t {
  NONE = 0,
  EXTERNAL = 1,  // payload: external index
  SLOT = 2,      // payload: slot index
  INT = 3,       // payload: the value
  REAL = 4,      // payload: index into the op's reals
  BOOL = 5,      // payload: 0 or 1
  INT_LIST = 6,  // payload: n, then n values
  WRAPPED_INT = 7,   // a Python int where the operator takes a tensor: payload: the value
  WRAPPED_REAL = 8,  // a Python float there: payload: index into the op's reals
  DTYPE = 9,         // payload: a dtype code (see scalar_type)
  STR = 10,          // payload: n, then n bytes
};

// What torch's Python binding passes for a number given where a tensor is expected: a
// 0-dim tensor marked as a wrapped number (which does not take part in type promotion).
c10::IValue wrapped(const at::Scalar& value) {
  auto tensor = c10::scalar_to_tensor(value);
  tensor.unsafeGetTensorImpl()->set_wrapped_number(true);
  return c10::IValue(tensor);
}

struct Arg {
  Kind kind;
  int64_t index;     // EXTERNAL, SLOT
  c10::IValue value;  // constants
};

struct Call {
  c10::OperatorHandle op;
  std::vector<Arg> args;
  std::vector<int64_t> outputs;  // slot per return value, or -1
};

struct External {
  at::Tensor tensor;
  int64_t root;    // -1: fixed
  int64_t offset;  // storage offset when the root's delta is 0
};

struct Program {
  std::vector<External> externals;
  std::vector<Call> calls;
  std::vector<c10::IValue> slots;
  torch::jit::Stack stack;
  std::mutex running;  // a run moves the externals and fills the slots: one at a time
};

at::ScalarType scalar_type(int64_t code) {
  switch (code) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kLong;
    case 3: return at::kInt;
    case 4: return at::kBool;
    default: throw std::runtime_error("unknown dtype code " + std::to_string(code));
  }
}

template <typename F>
int guarded(F&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return -1;
}

}  // namespace

extern "C" {

const char* rp_error() { return last_error.c_str(); }

void* rp_new() { return new Program(); }

void rp_free(void* program) { delete static_cast<Program*>(program); }

// A view of `storage_numel` elements of memory at `base` (a Python tensor's storage).
int64_t rp_external(void* program, void* base, int64_t storage_numel, int64_t dtype,
                    int64_t ndim, const int64_t* sizes, const int64_t* strides,
                    int64_t offset, int64_t root) {
  auto* p = static_cast<Program*>(program);
  int64_t index = -1;
  int status = guarded([&] {
    auto storage = at::from_blob(base, {storage_numel},
                                 at::TensorOptions().dtype(scalar_type(dtype)));
    auto view = storage.as_strided(at::IntArrayRef(sizes, ndim),
                                   at::IntArrayRef(strides, ndim), offset);
    p->externals.push_back({view, root, offset});
    index = static_cast<int64_t>(p->externals.size()) - 1;
  });
  return status == 0 ? index : -1;
}

// One operator call: `code` holds the arguments as (kind, payload...) in schema order,
// `reals` the floating-point constants, `outputs` a slot (or -1) per return value.
int rp_call(void* program, const char* name, const char* overload, const int64_t* code,
            int64_t n_code, const double* reals, const int64_t* outputs,
            int64_t n_outputs) {
  auto* p = static_cast<Program*>(program);
  return guarded([&] {
    Call call{c10::Dispatcher::singleton().findSchemaOrThrow(name, overload), {}, {}};
    for (int64_t i = 0; i < n_code;) {
      auto kind = static_cast<Kind>(code[i++]);
      Arg arg{kind, -1, c10::IValue()};
      switch (kind) {
        case NONE: break;
        case EXTERNAL:
        case SLOT: arg.index = code[i++]; break;
        case INT: arg.value = c10::IValue(code[i++]); break;
        case REAL: arg.value = c10::IValue(reals[code[i++]]); break;
        case BOOL: arg.value = c10::IValue(code[i++] != 0); break;
        case DTYPE: arg.value = c10::IValue(scalar_type(code[i++])); break;
        case WRAPPED_INT: arg.value = wrapped(at::Scalar(code[i++])); break;
        case WRAPPED_REAL: arg.value = wrapped(at::Scalar(reals[code[i++]])); break;
        case STR: {
          int64_t n = code[i++];
          std::string text;
          for (int64_t j = 0; j < n; ++j) text.push_back(static_cast<char>(code[i + j]));
          arg.value = c10::IValue(text);
          i += n;
          break;
        }
        case INT_LIST: {
          int64_t n = code[i++];
          arg.value = c10::IValue(std::vector<int64_t>(code + i, code + i + n));
          i += n;
          break;
        }
        default: throw std::runtime_error("unknown argument kind");
      }
      call.args.push_back(std::move(arg));
    }
    for (int64_t i = 0; i < n_outputs; ++i) {
      call.outputs.push_back(outputs[i]);
      if (outputs[i] >= static_cast<int64_t>(p->slots.size())) p->slots.resize(outputs[i] + 1);
    }
    p->calls.push_back(std::move(call));
  });
}

// Runs every call once, the externals of root r moved by deltas[r] elements.
int rp_run(void* program, const int64_t* deltas) {
  auto* p = static_cast<Program*>(program);
  return guarded([&] {
    std::lock_guard<std::mutex> one_at_a_time(p->running);
    for (auto& e : p->externals) {
      if (e.root >= 0) e.tensor.unsafeGetTensorImpl()->set_storage_offset(e.offset + deltas[e.root]);
    }
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto& stack = p->stack;
    for (auto& call : p->calls) {
      stack.clear();
      for (auto& arg : call.args) {
        switch (arg.kind) {
          case EXTERNAL: stack.emplace_back(p->externals[arg.index].tensor); break;
          case SLOT: stack.push_back(p->slots[arg.index]); break;
          default: stack.push_back(arg.value); break;
        }
      }
      call.op.callBoxed(&stack);
      for (size_t i = 0; i < call.outputs.size() && i < stack.size(); ++i) {
        if (call.outputs[i] >= 0) p->slots[call.outputs[i]] = std::move(stack[i]);
      }
    }
    stack.clear();
    for (auto& slot : p->slots) slot = c10::IValue();  // temporaries go, as in Python
  });
}

}  // extern "C"
