"""One serialisation harness for every Keras object of the library (the
pattern of Keras's `run_class_serialization_test`)."""

import keras


def round_trip(obj):
  """Serialises `obj` both ways Keras does and checks that each copy is of
  the same class with the same config, and serialises the same again.

  Returns:
    The copy deserialised from `keras.saving.serialize_keras_object`.
  """
  config = keras.saving.serialize_keras_object(obj)
  copy = keras.saving.deserialize_keras_object(config)
  assert type(copy) is type(obj), (type(copy), type(obj))
  assert copy.get_config() == obj.get_config()
  assert keras.saving.serialize_keras_object(copy)["config"] == config["config"]
  again = type(obj).from_config(obj.get_config())
  assert type(again) is type(obj) and again.get_config() == obj.get_config()
  return copy
