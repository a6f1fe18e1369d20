"""Opening a TFDS dataset for our readers, with one clear error when it cannot be prepared."""


class DatasetUnavailableError(RuntimeError):
    """A TFDS dataset that could not be downloaded or prepared (offline, a name TFDS does not
    know, a failed download): bad input or environment, which `keras-bert` reports in one
    line.

    Example:

    ```python
    try:
        prepared_builder("no_such_dataset", instead="pass local files")
    except DatasetUnavailableError as error:
        message = str(error)
    message.startswith("Could not prepare the TFDS dataset 'no_such_dataset'")  # True
    ```
    """


def prepared_builder(name, data_dir=None, instead=""):
    """`tfds.builder(name, data_dir)` after `download_and_prepare()`; a
    `DatasetUnavailableError` naming the dataset and what to do offline (`instead`: the local
    alternative) when the download or preparation fails.

    Example:

    ```python
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=2):
        builder = prepared_builder("glue/sst2")
    builder.info.name  # 'glue'
    ```
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
    except Exception as error:  # noqa: BLE001 - network/registry errors come in many types
        raise DatasetUnavailableError(
            f"Could not prepare the TFDS dataset {name!r} ({type(error).__name__}: {error}). "
            "Downloading needs network access; on an offline machine prepare it elsewhere and "
            f"copy it into the TFDS data_dir{', or ' + instead if instead else ''}."
        ) from error
    return builder
