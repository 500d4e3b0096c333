require "middle_management/heroku_names"

module MiddleManagement
  module LocalFormation
    # The body of a formation update, checked against Heroku's schema and
    # read the way the real API reads it, into Formation::Updates.
    module UpdateParams
      TYPE_PATTERN = HerokuNames::PROCESS_TYPE
      SINGLE_KEYS = %w[quantity dyno_size size].freeze
      BATCH_KEYS = %w[type quantity dyno_size size].freeze
      # The schema says integer, but the API also takes the strings Heroku's
      # CLI sends: "3" sets 3, "+1" and "-1" change the quantity by one.
      ABSOLUTE = /\A\d+\z/
      RELATIVE = /\A[+-]\d+\z/

      module_function

      # PATCH /apps/{app}/formation/{type}: {"quantity": N} and/or a size.
      def single!(body, type)
        fields = fields!(body, SINGLE_KEYS)
        raise ApiError.invalid_params("Invalid params: `quantity` or `dyno_size` is required.") if fields.empty?

        Formation::Update.new(type: type, **fields)
      end

      # PATCH /apps/{app}/formation: {"updates": [{"type": ..., "quantity": ...}]}.
      def batch!(body)
        raise ApiError.invalid_params("Invalid params: expected an object with `updates`.") unless body.is_a?(Hash)

        extra = body.keys - ["updates"]
        raise unexpected(extra.first) unless extra.empty?

        updates = body.fetch("updates") { raise ApiError.invalid_params("Invalid params: `updates` is required.") }
        raise ApiError.invalid_params("Invalid params: `updates` must be an array.") unless updates.is_a?(Array)

        updates.map do |update|
          fields = fields!(update, BATCH_KEYS)
          type = update["type"]
          raise ApiError.invalid_params("Invalid params: `type` is required.") if type.nil?
          raise ApiError.invalid_params("Invalid params: `type` must match #{HerokuNames::PROCESS_TYPE_SCHEMA}.") unless type.is_a?(String) && type.match?(TYPE_PATTERN)

          Formation::Update.new(type: type, **fields)
        end
      end

      # additionalProperties: false, and the schema's types for each value.
      def fields!(object, allowed)
        raise ApiError.invalid_params("Invalid params: expected an object of formation properties.") unless object.is_a?(Hash)

        extra = object.keys - allowed
        raise unexpected(extra.first) unless extra.empty?

        fields = object.key?("quantity") ? quantity!(object["quantity"]) : {}
        size = size!(object)
        size ? fields.merge(size: size) : fields
      end

      # {quantity: N} or {delta: ±N}.
      def quantity!(value)
        # JSON's 1.0 parses as a Float: not an integer.
        return { quantity: value } if value.is_a?(Integer) && value >= 0
        return { quantity: Integer(value, 10) } if value.is_a?(String) && value.match?(ABSOLUTE)
        return { delta: Integer(value, 10) } if value.is_a?(String) && value.match?(RELATIVE)

        raise ApiError.invalid_params("Invalid params: `quantity` must be a non-negative integer " \
                                      "(or a string: \"3\", \"+1\", \"-1\").")
      end

      # `dyno_size` is an object naming the size by `name` or `id`; the
      # deprecated `size` is a plain string. Either must name a size this
      # app may use; its canonical name is what is kept.
      def size!(object)
        if object.key?("dyno_size")
          value = object["dyno_size"]
          size = value["name"] || value["id"] if value.is_a?(Hash)
        elsif object.key?("size")
          size = object["size"]
        else
          return nil
        end
        unless size.is_a?(String) && !size.empty?
          raise ApiError.invalid_params("Invalid params: `dyno_size` must be an object with a `name` or `id`.")
        end

        DynoSizes.canonical(size) || raise(ApiError.no_such_size(size))
      end

      def unexpected(key) = ApiError.invalid_params("Invalid params: unexpected property `#{key}`.")
    end
  end
end
