export * from "./core/tensor.js";
export * from "./core/rng.js";
export * from "./core/process.js";
export * from "./core/grid.js";
export * from "./core/schedule.js";
export * from "./core/denoiser.js";
export * from "./core/sampler.js";
export * from "./processes/gaussian.js";
export * from "./samplers/presets.js";
export * from "./oracles/mixture.js";
export * from "./metrics/energy.js";

export { uniformKernel, uniformNoise } from "./processes/kernels.js";
export * from "./train/types.js";

// Training machinery (section "training" of the README).
export * from "./train/train.js";
export * from "./train/adam.js";
export * from "./train/loss.js";
export * from "./train/objectives.js";
export * from "./train/network-denoiser.js";
export * from "./train/checkpoint.js";
export * from "./train/safetensors.js";
export * from "./train/progress.js";
export * from "./model/mlp.js";
export * from "./model/time-embedding.js";
export { initDense, dense, ParamTaker, paramCount } from "./model/layers.js";

// Continuous-time solvers and likelihood (section "solvers" of the README).
export { sampleEuler, sampleHeun, sampleRk45, integrateRk45, pfOdeField } from "./samplers/ode.js";
export type { OdeSamplerOptions, Rk45Options, Rk45Result, Rk45SamplerOptions, Field } from "./samplers/ode.js";
export { sampleEulerMaruyama } from "./samplers/sde.js";
export type { SdeSamplerOptions } from "./samplers/sde.js";
export { sampleDpmSolver2M } from "./samplers/dpm-solver.js";
export type { DpmSolverOptions } from "./samplers/dpm-solver.js";
export { rates as scheduleRates, sdeCoefficients, pfOdeVelocity, scoreFromMean, epsFromMean, halfLogSnr } from "./samplers/drift.js";
export type { Rates as ScheduleRates, SolverResult } from "./samplers/drift.js";
export { logLikelihood, priorStd } from "./likelihood/likelihood.js";
export type { LikelihoodOptions, LikelihoodResult, DivergenceMethod, LikelihoodSolver } from "./likelihood/likelihood.js";
export { exactTrace, hutchinsonTrace, drawProbes } from "./likelihood/divergence.js";
export type { ProbeKind } from "./likelihood/divergence.js";
export { evalNll, bitsPerDim } from "./likelihood/eval.js";
export type { EvalNllOptions, EvalNllResult } from "./likelihood/eval.js";

// Images (section "images" of the README).
export { parseIdx, readIdx } from "./data/idx.js";
export type { IdxArray } from "./data/idx.js";
export { mnist, fashionMnist, bytesToImages, FASHION_MNIST_DIR, FASHION_CLASSES } from "./data/mnist.js";
export type { ImageDataset, Split, LoadOptions } from "./data/mnist.js";
export { pngFolder } from "./data/png-folder.js";
export type { PngFolderOptions } from "./data/png-folder.js";
export { blurProcess, blurLikeProcess, applyBlur, gaussianBlurMatrix, gaussianBlurOperator, blurWidth, COLD_SIGMA, HOT_SIGMA } from "./processes/blur.js";
export type { BlurOptions, BlurProcess, SeparableBlur } from "./processes/blur.js";
export { heatProcess, heatOperator, heatMatrix, dctMatrix } from "./processes/heat.js";
export { pixelMaskProcess, unmasked, hiddenMask } from "./processes/pixel-mask.js";
export type { PixelMaskOptions, PixelMaskProcess } from "./processes/pixel-mask.js";
export { unet } from "./model/unet.js";
export type { UnetConfig } from "./model/unet.js";
export { conv3x3, im2col3x3, initConv3x3, groupNorm, initGroupNorm, avgPool2, upsample2 } from "./model/conv.js";
export { x0Objective, maskedX0Objective, maskedLevelsObjective } from "./images/objectives.js";
export { imageX0Denoiser, maskDenoiser, keepVisible, levelsDenoiser, maskLevelsDenoiser } from "./images/denoisers.js";
export type { PixelLogits } from "./images/denoisers.js";
export { levelIds, levelOf, levelValue, quantise } from "./images/levels.js";
export { inpaint, pasteKnown, regionMask, maskFromImage, REGIONS } from "./images/inpaint.js";
export type { Region } from "./images/inpaint.js";
export type { InpaintOptions } from "./images/inpaint.js";
export { forwardStrip } from "./images/forward-strip.js";
export { loadClassifier, classify, accuracy, sampleQuality, reference, frechetScale } from "./images/classifier.js";
export { frechetDistance, classEntropy, meanCov, symmetricEigen, sqrtPsd } from "./images/frechet.js";
export type { Classifier, SampleQuality, Reference } from "./images/classifier.js";
export { imageGrid, imageColumns, drawImage } from "./viz/image-grid.js";
export type { ImagePictureOptions } from "./viz/image-grid.js";

// Text: token processes, exact oracles, Transformer, ELBO (section "text" of the README).
export { masking } from "./processes/masking.js";
export type { MaskingProcess, MaskingOptions } from "./processes/masking.js";
export { replacement, replacementCodes } from "./processes/replacement.js";
export type { ReplacementProcess, ReplacementOptions, ReplacementNoise, ReplacementVariant } from "./processes/replacement.js";
export { countedMasking, countedReplacement } from "./processes/counted.js";
export type { CountedProcess, CountedOptions, RankNoise } from "./processes/counted.js";
export type { TokenProcess } from "./processes/tokens.js";
export { enumerable, testStrings, stringAt, sampleEnumerable, stringCounts, exactPosterior, enumerableDenoiser, entropy as enumerableEntropy, chiSquareTest, twoSampleChiSquare, chiSquareSurvival } from "./oracles/enumerable.js";
export type { Enumerable, ChiSquare } from "./oracles/enumerable.js";
export { loadText, gutenbergBooks, gutenbergText, normaliseText, buildVocabulary, unknownCharacters, encode as encodeText, decode as decodeText, chunk as chunkTokens } from "./data/text.js";
export type { TextData, TextOptions, Vocabulary, NormaliseReport } from "./data/text.js";
export { trainBpe, bpeEncoder, bpePieces, splitWords } from "./data/bpe.js";
export type { Bpe } from "./data/bpe.js";
export { transformer } from "./model/transformer.js";
export type { TransformerConfig } from "./model/transformer.js";
export { categoricalDenoiser, networkCategorical } from "./text/denoiser.js";
export type { CategoricalModel, CategoricalDenoiserOptions } from "./text/denoiser.js";
export { tokenObjective } from "./text/objective.js";
export { maskingNelbo, maskingNelboExact, maskingNelboQuadrature, inverseSchedule, scheduleSlope } from "./text/elbo.js";
export type { NelboOptions, NelboResult, MaskingLike } from "./text/elbo.js";
export { infillDenoiser, parseTemplate } from "./text/infill.js";

// Deletion on sequences of varying length (section "deletion" of the README).
export { padRows, rowLength, rowLengths, rowTokens, checkPadded } from "./core/padded.js";
export { deletion } from "./processes/deletion.js";
export type { DeletionProcess, DeletionOptions } from "./processes/deletion.js";
export { logEmbeddings, sampleEmbedding, gapCounts, suffixLogCounts, prefixLogCounts } from "./processes/alignment.js";
export { stringDist, testSequences, sampleStrings, stringCountsOf, sequencePosterior, sequenceDenoiser, exactGapCounts } from "./oracles/sequences.js";
export type { StringDist, SequenceLikelihood } from "./oracles/sequences.js";
export { insertionTransformer, insertionLayout } from "./model/insertion.js";
export type { InsertionConfig } from "./model/insertion.js";
export { insertionObjective, insertionLoss, insertionTargets, insertionDenoiser, insertionRates, networkInsertion, Proposal } from "./text/insertion.js";
export type { InsertionModel, InsertionDenoiserOptions, SlotQuery } from "./text/insertion.js";
export { deletionBound, gaussLegendre } from "./text/deletion-bound.js";
export type { BoundOptions, BoundResult, Rate, RateModel } from "./text/deletion-bound.js";
export { parseDeletionTemplate, deletionInfill } from "./text/deletion-infill.js";
export { textUnits, loadTextUnits } from "./data/text.js";
export type { TextUnit, UnitData } from "./data/text.js";

// 2-D data, pictures and the CLI registry (section "cli" of the README).
export { toy2d, toy2dNames, isToy2dName } from "./data/toy2d.js";
export type { Toy2dName } from "./data/toy2d.js";
export { readPointsCsv, parsePointsCsv } from "./data/csv.js";
export { Canvas, decodePng } from "./viz/canvas.js";
export type { Color } from "./viz/canvas.js";
export { Chart, chart } from "./viz/chart.js";
export type { Picture } from "./viz/chart.js";
export { colors, palette } from "./viz/plots/style.js";
export { row, titled } from "./viz/plots/compose.js";
export { lossPlot } from "./viz/plots/loss.js";
export { scatterPlot, dataVsSamplesPlot } from "./viz/plots/scatter.js";
export { trajectoryPlot } from "./viz/plots/trajectory.js";
export { writeFileAtomic } from "./viz/files.js";
export { scatterRow, dataVsSamples } from "./viz/scatter.js";
export type { Panel, Series, ScatterOptions } from "./viz/scatter.js";
export { trajectoryRecorder, trajectoryPicture } from "./viz/trajectory.js";
export type { Snapshot } from "./viz/trajectory.js";
export { linePlot } from "./viz/lineplot.js";
export type { Line, LinePlotOptions } from "./viz/lineplot.js";
export { renderReport, writeReport } from "./viz/report.js";
export type { Report, ReportSection, ReportImage } from "./viz/report.js";
export { registerData, registerProcess, registerNetwork } from "./cli/registry.js";
export type { DataEntry, DataSet, DataKind, DataRequest, ProcessEntry, ProcessSetup, NetworkEntry, NetworkSpec, NetworkOutput, SamplerRequest, FlagSpec, NllResult } from "./cli/registry.js";
