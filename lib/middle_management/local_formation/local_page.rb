module MiddleManagement
  module LocalFormation
    # The page as `middle_management local` serves it: MiddleManagement::Web,
    # open without credentials (the developer's own machine, on 127.0.0.1).
    # The gem, with its native extension, is loaded at the first visit, so
    # the command starts without it; `--require` loads the app first (its
    # config/environment.rb, say), so the page shows the app's own store and
    # history.
    class LocalPage
      def initialize(app_file: nil)
        @env = {}
        @app_file = app_file
        @lock = Mutex.new
      end

      # The settings this process takes at the first visit (the local API's).
      attr_writer :env

      # Loads the app now rather than at the first visit.
      def load! = app

      def call(rack_env) = app.call(rack_env)

      private

      def app
        @lock.synchronize do
          @app ||= begin
            # This process scales against this local API, as the processes it runs do.
            @env.each { |name, value| ENV[name] ||= value }
            require File.expand_path(@app_file) if @app_file
            require "middle_management"
            require "middle_management/web"
            MiddleManagement::Web.new(local: true)
          end
        end
      end
    end
  end
end
