"""YouTube-8M frame-level features for one's own videos, as google computed them for the dataset.

Per second of video: rgb = Inception-v3 pool features (2,048) → PCA to 1,024 with whitening →
8 bits; audio = the VGGish embedding (128) of that second's log-mel spectrogram → PCA to 128 with
whitening → 8 bits. The records that :func:`core.yt8m_features.pipeline.write_yt8m_records`
writes are what the ``youtube8m`` layout and NeXtVLAD read.

- :mod:`core.yt8m_features.audio`: audio decoding (PyAV) and VGGish's log-mel front end (torch);
- :mod:`core.yt8m_features.vggish`: the VGGish network and where its weights come from;
- :mod:`core.yt8m_features.pca`: PCA with whitening: google's files, or fitted and saved;
- :mod:`core.yt8m_features.pipeline`: videos of a dataset → TFRecord files, a vocabulary, a report.
"""
