/* SPDX-License-Identifier: MIT */
/* ferry: take a trained model to a verified, monitored service. Umbrella header. */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#define FERRY_VERSION "0.1.0"

#include "ferry/bench.h"
#include "ferry/conformance.h"
#include "ferry/dataset.h"
#include "ferry/deploy.h"
#include "ferry/emit.h"
#include "ferry/engine.h"
#include "ferry/env.h"
#include "ferry/error.h"
#include "ferry/llm.h"
#include "ferry/model.h"
#include "ferry/package.h"
#include "ferry/serve.h"
#include "ferry/tensor.h"
#include "ferry/verify.h"

#endif
