/* SPDX-License-Identifier: MIT */
/* ferry: take a trained model to a verified, monitored service. Umbrella header. */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#define FERRY_VERSION "0.1.0"

#include "ferry/conformance.h"
#include "ferry/dataset.h"
#include "ferry/engine.h"
#include "ferry/error.h"
#include "ferry/llm.h"
#include "ferry/model.h"
#include "ferry/package.h"
#include "ferry/serve.h"
#include "ferry/tensor.h"

#endif
