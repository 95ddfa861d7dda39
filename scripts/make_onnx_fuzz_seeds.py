# Writes two small valid ONNX models, seeds of the ONNX fuzz targets (fuzz/README.md), into
# fuzz/corpus/onnx_raw/ (the third seed is the test fixture tests/data/onnx/net.onnx). Operators and
# encodings the fixture lacks: MatMul + Add bias, Mul/Add normalization, auto_pad, BatchNormalization on a
# convolution, Reshape, Identity, Dropout (input and attribute), opset 9 Clip and Pad attributes,
# float_data instead of raw_data. Run from the repository root with /usr/bin/python3 (python3-onnx).
import numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
rng = np.random.default_rng(1)
def f(name, shape, raw=True):
    a = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    if raw: return nh.from_array(a, name)
    return h.make_tensor(name, T.FLOAT, list(shape), a.flatten().tolist())
inp = h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 32, 32])
out = h.make_tensor_value_info("y", T.FLOAT, ["N", 10])
# Seed 1 (opset 13): Mul/Add normalization, Conv SAME_UPPER, BN, Relu, MaxPool, GAP, Reshape, MatMul+Add, Dropout, Identity
nodes = [
  h.make_node("Mul", ["x", "s"], ["a"], name="norm_mul"),
  h.make_node("Add", ["a", "sh"], ["b"], name="norm_add"),
  h.make_node("Conv", ["b", "w1"], ["c"], name="conv", kernel_shape=[3,3], strides=[1,1], auto_pad="SAME_UPPER"),
  h.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["d"], name="bn", epsilon=1e-5),
  h.make_node("Relu", ["d"], ["e"], name="relu"),
  h.make_node("MaxPool", ["e"], ["f"], name="pool", kernel_shape=[2,2], strides=[2,2]),
  h.make_node("GlobalAveragePool", ["f"], ["g1"], name="gap"),
  h.make_node("Constant", [], ["shape"], name="shape", value=h.make_tensor("sv", T.INT64, [2], [0, -1])),
  h.make_node("Reshape", ["g1", "shape"], ["h1"], name="reshape"),
  h.make_node("Identity", ["h1"], ["i1"], name="id"),
  h.make_node("MatMul", ["i1", "wf"], ["j"], name="fc"),
  h.make_node("Add", ["j", "bf"], ["k"], name="fc_bias"),
  h.make_node("Dropout", ["k", "ratio"], ["y"], name="drop"),
]
inits = [nh.from_array(np.float32(2.0), "s"), nh.from_array(np.array([[[0.1]],[[0.2]],[[0.3]]], np.float32), "sh"),
         f("w1", (4,3,3,3)), f("g", (4,), False), f("be", (4,)), f("m", (4,)),
         nh.from_array(np.ones(4, np.float32), "v"), f("wf", (4,10)), f("bf", (10,), False),
         nh.from_array(np.array([0.25], np.float32), "ratio")]
m = h.make_model(h.make_graph(nodes, "g", [inp], [out], inits), opset_imports=[h.make_opsetid("", 13)], producer_name="seedgen")
m.ir_version = 7
onnx.save(m, "fuzz/corpus/onnx_raw/matmul13.onnx")
# Seed 2 (opset 9): Clip attrs, Pad attribute, Dropout ratio attr, AveragePool, Conv pads, Flatten, Gemm transB, Constant value_floats
nodes = [
  h.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv", kernel_shape=[3,3], pads=[1,1,1,1], strides=[1,1]),
  h.make_node("Clip", ["c"], ["d"], name="clip", min=0.0),
  h.make_node("Pad", ["d"], ["e"], name="pad", pads=[0,0,0,0,0,0,0,0]),
  h.make_node("AveragePool", ["e"], ["f"], name="avg", kernel_shape=[4,4], strides=[4,4]),
  h.make_node("Conv", ["f", "w2"], ["f2"], name="conv2", kernel_shape=[1,1]),
  h.make_node("Add", ["f2", "f"], ["f3"], name="res"),
  h.make_node("MaxPool", ["f3"], ["f4"], name="mp", kernel_shape=[8,8], strides=[8,8]),
  h.make_node("Dropout", ["f4"], ["g1"], name="drop", ratio=0.1),
  h.make_node("Flatten", ["g1"], ["h1"], name="flat", axis=1),
  h.make_node("Gemm", ["h1", "wf", "bf"], ["y"], name="gemm", transB=1, alpha=1.0, beta=1.0),
]
inits = [f("w1", (2,3,3,3), False), f("b1", (2,)), f("w2", (2,2,1,1)), f("wf", (10,2)), f("bf", (10,))]
m = h.make_model(h.make_graph(nodes, "g", [inp], [out], inits), opset_imports=[h.make_opsetid("", 9)], producer_name="seedgen")
m.ir_version = 4
onnx.save(m, "fuzz/corpus/onnx_raw/gemm9.onnx")
