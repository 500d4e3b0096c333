require "middle_management/configuration"
require "middle_management/internal/native"

module MiddleManagement
  module Simulation
    # One trace replayed by the native simulator, as often as asked, each
    # time with some settings and a strategy (`middle_management simulate`,
    # its grid, `tune`). `options`: the strategies' and Heroku model's
    # (DEFAULTS), and `settings`, the gem's settings kept in
    # every replay (flags, or the app's own).
    class Replay
      DEFAULTS = { strategy: "ours", boot_time: 30.0, grace: 30.0, price: Configuration::STANDARD_1X, settings: {},
                   checkup: 60.0, upscale_timeout: 0.0, downscale_timeout: 0.0, decrementable: false, jump: 1 }.freeze

      def initialize(trace, options)
        @trace = trace
        @options = DEFAULTS.merge(options)
      end

      # A report Hash (`middle_management simulate --json`). `settings`
      # over the replay's own, over the gem's defaults (what an app gets
      # with no setting); `extra`: strategy options over the replay's.
      def call(settings = {}, strategy = @options[:strategy], extra = {})
        options = @options.merge(strategy: strategy, **extra)
        config = configuration(options[:settings].merge(settings))
        simulation = Internal::Bridge::Simulation.new(
          strategy: options[:strategy], workers: options[:workers] || config.max_workers, checkup: options[:checkup],
          ratio: hirefire_ratio(config), decrementable: options[:decrementable],
          upscale_timeout: options[:upscale_timeout], downscale_timeout: options[:downscale_timeout],
          jump: options[:jump], boot_time: options[:boot_time], grace: options[:grace], price: options[:price]
        )
        Internal::Native.simulate(config.native_settings, @trace.flat, simulation).to_h
      end

      private

      # Named by their flags in errors: `--max-workers must be …`.
      def configuration(settings)
        config = Configuration.new
        { heroku_app: "simulation", heroku_api_key: "none", dry_run: true }
          .each { |name, value| config.public_send(:"#{name}=", value) }
        settings.each { |name, value| config.__send__(:assign, name, value, "--#{name.to_s.tr("_", "-")}") }
        config.validate!
      end

      # HireFire's jobs per dyno: --jobs-per-worker's number; with auto, the
      # gem's fallback (HireFire has no auto).
      def hirefire_ratio(config)
        config.jobs_per_worker == :auto ? Configuration::Pool::FALLBACK_JOBS_PER_WORKER : config.jobs_per_worker
      end
    end
  end
end
