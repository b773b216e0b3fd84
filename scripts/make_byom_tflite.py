"""The float .tflite fixture of `pixmcu quantize` and TFLite's own float outputs on 16 images.

Needs TensorFlow, which CI does not install: the outputs are committed.
    /work/tfvenv/bin/python scripts/make_byom_tflite.py
"""
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, tensorflow as tf
from pathlib import Path
L = tf.keras.layers
tf.keras.utils.set_random_seed(3)
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "byom"
x_in = tf.keras.Input((12, 14, 3), batch_size=1)
x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x_in)   # 6x7
y = L.DepthwiseConv2D(3, depth_multiplier=1, padding="same", activation="relu")(x)
x = L.Add()([x, y])
x = L.MaxPooling2D(2, strides=1, padding="same")(x)
a = L.Conv2D(6, 1, activation="relu")(x)
b = L.AveragePooling2D(3, strides=1, padding="same")(x)
x = L.Concatenate(axis=-1)([a, b])                      # 14 channels
x = L.Conv2D(5, 3, strides=2, padding="valid")(x)       # 2x3
f = L.Flatten()(x)                                      # NHWC order
g = L.Dense(7, activation="relu")(f)
m = L.GlobalAveragePooling2D()(x)
h = L.Concatenate()([g, m])
out = L.Softmax()(L.Dense(4)(h))
model = tf.keras.Model(x_in, out)
conv = tf.lite.TFLiteConverter.from_keras_model(model)
buf = conv.convert()
(OUT / "float_mixed.tflite").write_bytes(buf)
rng = np.random.default_rng(0)
xs = rng.integers(0, 256, (16, 12, 14, 3)).astype(np.uint8)
interp = tf.lite.Interpreter(model_content=buf)
interp.allocate_tensors()
i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
ys = []
for k in range(len(xs)):
    interp.set_tensor(i, (xs[k:k+1].astype(np.float32) / 127.5 - 1.0))
    interp.invoke()
    ys.append(interp.get_tensor(o))
np.savez(OUT / "float_mixed_expected.npz", x=xs, y=np.concatenate(ys))
print("ok", np.concatenate(ys)[:2])
