"""Every configuration key the trainer understands, with its default value.

Task configs start from ``get_config()`` here and change values only; a key that is
not defined here is rejected (with the closest valid key) before anything compiles.
"""

import ml_collections

# Value ranges: every numeric key below has one rule in train/validate_ranges.py (RANGES:
# e.g. rates in (0, inf), probabilities in [0, 1), counts >= 1, -1 = off where noted),
# checked with the types by train/validate.py before any data is loaded.


def get_config() -> ml_collections.ConfigDict:
    """The full schema with default values."""
    c = ml_collections.ConfigDict()
    c.task = "classification"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"  # a jaxdl.data.load name, or image_folder:<path>
    c.data.data_dir = ""  # '' = the look-up order of jaxdl.data.load
    c.data.download = False  # allow TFDS downloads (needs internet)
    c.data.train_split = "train[:90%]"
    c.data.val_split = "train[90%:]"  # '' = no validation
    c.data.test_split = "test"  # '' = no final test evaluation
    c.data.pad_to = 0  # pad images to this square size on load (0 = keep)
    c.data.augment = ""  # augmentation spec, see jaxdl.data.augment ('' = none)
    # Streaming datasets (data.name 'imagenet2012': tfds.data_source + grain, host-side
    # crops, see jaxdl.data.imagenet); data_dir is then the TFDS data folder.
    c.data.image_size = 224  # crop side
    c.data.train_crop = "random_resized"  # random_resized (Inception) | scale_jitter (VGG)
    c.data.scale_range = (256, 512)  # scale jittering: shorter side S ~ U[S_min, S_max]
    c.data.eval_resize = 256  # evaluation: shorter side, then centre crop image_size
    c.data.num_workers = 0  # grain worker processes (0 = threads only)
    c.data.classes = ()  # keep only these labels, relabelled 0..k-1 in this order (() = all)
    # Curriculum learning (jaxdl.data.curriculum, train/curriculum.py): training batches
    # drawn from the easiest fraction of the examples, growing to all of them.
    c.data.curriculum = ml_collections.ConfigDict()
    # '' = random order (the baseline) | a .npy file of per-example difficulty scores of
    # the training split (higher = harder) | a run directory: its model's per-example loss
    c.data.curriculum.score = ""
    # linear | root (sqrt competence, Platanios et al.) | exponential (doubling steps,
    # Hacohen & Weinshall)
    c.data.curriculum.pacing = "linear"
    c.data.curriculum.start = 0.2  # fraction of the (easiest) examples available at step 0
    c.data.curriculum.full_at = 0.5  # all examples available after this fraction of the steps

    c.model = ml_collections.ConfigDict()
    c.model.name = "mlp"  # a jaxdl.models registry name
    c.model.dtype = "float32"  # compute dtype: float32 or bfloat16
    c.model.kwargs = ml_collections.ConfigDict()  # extra module fields
    # Transfer learning: start from a torchvision state_dict (.pth, or .npz of it) for
    # model.name (jaxdl.models.load_torchvision_weights); a differently sized classifier
    # stays fresh; inputs get ImageNet's normalization. '' = train from scratch.
    # A run directory instead (a `python -m train` workdir of another dataset or label
    # set): its latest checkpoint's parameters, the classifier head (transfer.head)
    # re-initialised; inputs then keep this dataset's own normalization.
    c.model.init_from = ""

    # Transfer learning (train/transfer.py): parameter groups 'head' and 'trunk'.
    c.transfer = ml_collections.ConfigDict()
    c.transfer.head = ""  # top-level param modules of the head, comma-separated ('' = last)
    # trunk learning rate = factor x the head's (per-group rates); 0 = frozen trunk
    c.transfer.trunk_lr_factor = 1.0
    c.transfer.reinit_head = True  # False: keep init_from's head too (fine-tuning phase)

    # Multitask learning (train/multitask.py): one shared trunk, one head per task, the
    # loss sum_t w_t CE_t. 'task:weight,...' over jaxdl.data.derived_labels tasks
    # ('label' = the dataset's own), e.g. 'label:1.0,parity:0.5'; '' = single task.
    c.multitask = ml_collections.ConfigDict()
    c.multitask.tasks = ""

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"  # a jaxdl.optim.create name
    c.optimizer.learning_rate = 0.1
    c.optimizer.kwargs = ml_collections.ConfigDict()
    c.optimizer.schedule = "constant"  # a jaxdl.optim.create_schedule name
    # Its keyword arguments; cosine ones without decay_epochs decay over num_epochs.
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict()
    # He et al.'s warm-up: hold warmup_learning_rate for the first warmup_epochs epochs,
    # then the schedule above (counted from step 0); 0 epochs = none.
    c.optimizer.warmup_epochs = 0
    c.optimizer.warmup_learning_rate = 0.0
    c.optimizer.clip = "none"  # none | global_norm | running_average
    c.optimizer.clip_kwargs = ml_collections.ConfigDict()
    c.optimizer.accumulate_steps = 1  # gradient accumulation (0 = full-batch GD)
    # ZFNet: after each update, conv filters with RMS above this are scaled back to it
    # (Zeiler & Fergus: 0.1); <= 0 = off. See jaxdl.optim.renormalize_filters.
    c.optimizer.renormalize_filters = 0.0

    c.loss = ml_collections.ConfigDict()
    c.loss.l1 = 0.0  # weight of the l1 penalty on kernels
    c.loss.l2 = 0.0  # weight kappa of the (kappa/2)||W||^2 penalty on kernels
    c.loss.label_smoothing = 0.0
    c.loss.aux_loss_weight = 0.3  # auxiliary classifiers (GoogLeNet)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 128
    c.train.eval_batch_size = 1000
    c.train.num_epochs = 10
    c.train.log_every_steps = 100
    c.train.eval_every_epochs = 1
    c.train.max_to_keep = 3
    c.train.best_metric = "val_accuracy"
    c.train.best_mode = "max"
    c.train.max_steps = -1  # stop after this many steps in total (-1 = all epochs)
    # Early stopping on train.best_metric (mode train.best_mode); -1 disables it.
    c.train.early_stopping_patience = -1
    c.train.early_stopping_min_delta = 0.0
    # Restart from the best checkpoint after this many stalled evaluations (0 = off).
    c.train.restart_patience = 0
    c.train.max_restarts = 3
    c.train.restart_decay = 0.5
    c.train.final_from_best = False  # test with the best checkpoint's weights
    c.train.on_nonfinite = "stop"  # NaN/inf loss or gradients: stop | skip (the update)
    c.train.max_skipped_steps = 10  # with on_nonfinite='skip': stop after this many
    c.train.progress = True

    # Image generation (task 'gan', train/gan.py). The gan task uses its own two Adam
    # optimizers below and ignores c.optimizer; model.name is a GAN of
    # jaxdl.models.gan.GAN_MODELS or 'gaussian'.
    c.gan = ml_collections.ConfigDict()
    c.gan.latent_dim = 100
    c.gan.loss = "non_saturating"  # generator loss: non_saturating | minimax
    c.gan.d_steps = 1  # discriminator updates per generator update (Goodfellow's k)
    c.gan.g_learning_rate = 2e-4  # Adam, Radford et al.
    c.gan.d_learning_rate = 2e-4
    c.gan.beta1 = 0.5
    c.gan.beta2 = 0.999
    c.gan.l1_weight = 0.0  # pix2pix: 100
    # R1 penalty gamma/2 E||grad_x D(x)||^2 on real images added to D's loss (0 = off),
    # lazily: every r1_every steps, scaled by r1_every (StyleGAN2: 16).
    c.gan.r1_gamma = 0.0
    c.gan.r1_every = 16
    # StyleGAN: decay of the moving average w_avg of w (truncation trick), and the psi
    # values of the report's truncation table and sample grids (() = none; 1.0 = none).
    c.gan.w_avg_beta = 0.995
    c.gan.truncation_psi = ()
    # pix2pix inputs: '' (unconditional) | sobel_edges (edges -> image) | mask (a
    # segmentation dataset's mask -> its image) | paired (data.name='paired_folder:<root>')
    c.gan.condition = ""
    c.gan.paired_direction = "BtoA"  # paired folders: which half [A | B] is the input
    c.gan.edge_threshold = 0.25  # Sobel magnitude threshold, fraction of each image's max
    c.gan.generator = ml_collections.ConfigDict()  # extra generator fields
    c.gan.discriminator = ml_collections.ConfigDict()  # extra discriminator fields
    c.gan.gaussian_components = 0  # model 'gaussian': top-k eigen-images (0 = all)
    c.gan.num_samples = 64  # images in the sample grid
    c.gan.fid_classifier = ""  # train/configs module of the FID classifier ('' = no FID)
    c.gan.fid_workdir = ""  # its run directory ('' = <workdir>/../fid_<fid_classifier>)
    c.gan.fid_layer = "F6"  # the classifier layer whose output is the feature
    c.gan.fid_samples = 5000  # generated images per classifier-FID estimate
    c.gan.fid_seeds = 3  # independent sample sets (mean +- std reported)

    # Segmentation (task 'segmentation', train/segmentation.py). data.name is 'cracks'
    # (procedural, offline; splits 'train' / 'val' / 'test') or 'seg_folder:<path>'.
    # model.name is a segmentation model (unet, unet_padded, seg_plain_cnn).
    c.segmentation = ml_collections.ConfigDict()
    c.segmentation.image_size = 64  # cracks: side; seg_folder, tfds, paired_folder: resize to
    c.segmentation.data_seed = 0  # cracks: dataset seed (independent of the training seed)
    c.segmentation.loss = "softmax_ce"  # softmax_ce | binary_ce (one sigmoid logit)
    c.segmentation.class_weights = ()  # per-class cross-entropy weights (() = equal)
    c.segmentation.ce_weight = 1.0  # weight of the cross-entropy term
    c.segmentation.dice_weight = 0.0  # weight of the soft Dice term
    c.segmentation.num_pictures = 6  # examples drawn at every evaluation (0 = none)
    c.segmentation.threshold_baseline = True  # report the tuned intensity threshold
    return c
